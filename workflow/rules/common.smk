# The rules' look-ups over the config: their inputs, params, resources and file names (unrolled.rules,
# pure Python). Where files live is unrolled.layout's; what follows from the config, unrolled.registry's.
from unrolled import layout
from unrolled.layout import HISTORY, ICL, METRICS
from unrolled.rules import Lookups, exact

lookups = Lookups(config, repository_file)


wildcard_constraints:
    source=r"[a-z0-9_]+",
    dataset=r"[a-z0-9_]+",
    experiment=r"[a-z0-9_]+",
    arm=r"[a-z0-9_]+",
    seed=r"\d+",
    figure=r"[a-z0-9_]+",
    benchmark=r"[a-z0-9_]+",
    map=r"[a-z0-9_]+",

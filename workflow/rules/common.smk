# The rules' look-ups over the config: their inputs, params, resources and file names (unrolled.rules,
# pure Python). Where files live is unrolled.layout's; what follows from the config, unrolled.registry's.
import os

from snakemake.exceptions import WorkflowError

from unrolled import layout
from unrolled.layout import (
    ACROSS,
    ARM,
    CURVES,
    DATASET,
    EXPERIMENT,
    FIGURE,
    HISTORY,
    ICL,
    JOB,
    METRICS,
    REGIME_MAP,
    RUN,
    RUN_CONFIG,
    SOURCE,
    SUMMARY,
    SUMMARY_CSV,
    TUNED,
    ZEROSHOT,
    ZEROSHOT_SUMMARY,
)
from unrolled.registry import CHECKOUT
from unrolled.rules import Lookups


def repository_file(path):
    """A file of this workflow's repository (a published reference result): a checkout's own file by its path
    (the source cache's copy would get a new name each run, and a rule's params would change); a module's, through
    Snakemake's source cache, fetched from its git host; where this workflow's folder is a copy without it, the
    package's checkout's."""
    local = os.path.join(workflow.basedir, "..", path)
    if os.path.isfile(local):
        return os.path.relpath(local)
    try:
        return workflow.source_path(os.path.join("..", "..", path))
    except (OSError, WorkflowError):
        return str(CHECKOUT / path)


lookups = Lookups(config, repository_file)
# The rules' paths: layout's templates (wildcards in braces) under the config's results folder and its runs.
RESULTS, RUNS = lookups.results, lookups.runs


wildcard_constraints:
    source=r"[a-z0-9_]+",
    dataset=r"[a-z0-9_]+",
    experiment=r"[a-z0-9_]+",
    arm=r"[a-z0-9_]+",
    seed=r"\d+",
    figure=r"[a-z0-9_]+",
    benchmark=r"[a-z0-9_]+",
    map=r"[a-z0-9_]+",

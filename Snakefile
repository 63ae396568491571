# Reproduction of Ravuri & Lawrence (arXiv:2507.21040) and Wang et al. (arXiv:2506.03790).
# This file only loads and validates the config and includes the rules; see workflow/rules/.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/sources.yaml"
configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"


rule all:
    default_target: True
    input:
        rules.data.input,

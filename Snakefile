# Reproduction of Ravuri & Lawrence (arXiv:2507.21040) and Wang et al. (arXiv:2506.03790).
# This file only loads and validates the config and includes the rules; see workflow/rules/.
from snakemake.utils import min_version, validate

min_version("9.0")


report: "workflow/report/workflow.rst"


configfile: "config/sources.yaml"


# config/config.yaml is the default; a --configfile (smoke.yaml, paper.yaml, yours) replaces it rather
# than merging into it, so one experiment registry never leaks into another.
if not workflow.overwrite_configfiles:
    workflow.configfile("config/config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/zeroshot.smk"
include: "workflow/rules/icl.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        rules.data.input,
        rules.summaries.input,
        ZEROSHOT_SUMMARIES,
        ICL_SUMMARIES,
        rules.theory.input,
        rules.figures.input,
        rules.table.output,
        rules.metrics.output,

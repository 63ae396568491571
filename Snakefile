# The workflow lives in workflow/Snakefile (where the Snakemake workflow catalog looks); this file
# lets `snakemake` find it from the repository root, as the README's commands expect.


include: "workflow/Snakefile"


# Snakemake ignores `default_target` in an included file (snakemake#2773): name the default here.
rule default:
    default_target: True
    input:
        rules.all.input,

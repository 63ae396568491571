# Figures and the paper-vs-reproduced table: they read summaries, histories and theory results only.


rule figure:
    input:
        lambda wildcards: registry.figure_inputs(_lookup("figures", wildcards.figure), config["experiments"], RESULTS),
    output:
        png=report(
            registry.figure_file("{figure}", root=RESULTS),
            caption="../report/figure.rst",
            category="Figures",
            labels=lambda wildcards: {"figure": wildcards.figure},
        ),
        pdf=registry.figure_file("{figure}", "pdf", RESULTS),
    log:
        "logs/figures/{figure}.log",
    benchmark:
        "logs/benchmarks/figures/{figure}.tsv"
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lambda wildcards: json.dumps(_lookup("figures", wildcards.figure)),
    shell:
        "python -m unrolled figure --spec {params.spec:q} --out {output.png} {input} > {log} 2>&1"


# Every experiment's paired differences at each evaluation step, from its summary (no config entry).
rule across_training_figure:
    input:
        summary=rules.summarize.output.json,
    output:
        png=report(
            registry.figure_file(registry.across_figure("{experiment}"), root=RESULTS),
            caption="../report/across.rst",
            category="Across training",
            labels=lambda wildcards: {"experiment": wildcards.experiment},
        ),
        pdf=registry.figure_file(registry.across_figure("{experiment}"), "pdf", RESULTS),
    log:
        "logs/figures/across_training/{experiment}.log",
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lambda wildcards: json.dumps(
            {
                "kind": "across",
                "experiment": wildcards.experiment,
                "claims": experiment_spec(wildcards.experiment).get("claims", {}),
            }
        ),
    shell:
        "python -m unrolled figure --spec {params.spec:q} --out {output.png} {input.summary} > {log} 2>&1"


rule figures:
    input:
        [registry.figure_file(name, root=RESULTS) for name in config["figures"]],
        [registry.figure_file(registry.across_figure(name), root=RESULTS) for name in config["experiments"]],


rule table:
    input:
        summaries=rules.summaries.input,
        zeroshot=ZEROSHOT_SUMMARIES,
        icl=ICL_SUMMARIES,
        theory=rules.theory.input,
    output:
        md=report(registry.table_file(RESULTS), caption="../report/table.rst", category="Tables"),
    log:
        "logs/figures/table.log",
    conda:
        "../envs/unrolled.yml"
    params:
        spec=json.dumps(config["experiments"]),
        left_out=json.dumps(config["left_out"]),
        results=lambda wildcards, output: os.path.dirname(os.path.dirname(output.md)),  # {results}/tables/
        # relative: the table reads the same in every clone (Snakemake gives absolute paths)
        config_name=lambda wildcards: " ".join(os.path.relpath(f) for f in workflow.overwrite_configfiles)
        or "config/config.yaml",
    shell:
        "python -m unrolled table --spec {params.spec:q} --config-name {params.config_name:q}"
        " --results {params.results} --left-out {params.left_out:q} --out {output.md} > {log} 2>&1"

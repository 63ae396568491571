# Figures and the paper-vs-reproduced table: they read the summaries, histories and theory results they
# are given (their inputs), never a folder's listing.


rule figure:
    input:
        lookups.figure_inputs,
    output:
        png=report(
            f"{RESULTS}/{FIGURE}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels=lambda wildcards: {"figure": wildcards.figure},
        ),
        pdf=f"{RESULTS}/{FIGURE}.pdf",
    log:
        layout.log_file("figures", "{figure}"),
    benchmark:
        layout.benchmark_file("figures", "{figure}", layout.LOGS)
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lookups.spec_json("figures"),
        files=lookups.figure_files,
    shell:
        "python -m unrolled figure --spec {params.spec:q} --out {output.png} {params.files} > {log} 2>&1"


# Every experiment's paired differences at each evaluation step, from its summary (no config entry).
rule across_training_figure:
    input:
        summary=lookups.made_from(lambda lookups, wildcards: [lookups.summary(wildcards.experiment)]),
    output:
        png=report(
            f"{RESULTS}/{FIGURE.format(figure=ACROSS)}.png",
            caption="../report/across.rst",
            category="Across training",
            labels=lambda wildcards: {"experiment": wildcards.experiment},
        ),
        pdf=f"{RESULTS}/{FIGURE.format(figure=ACROSS)}.pdf",
    log:
        layout.log_file("figures", ACROSS),
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lookups.across_spec,
    shell:
        "python -m unrolled figure --spec {params.spec:q} --out {output.png} {input.summary} > {log} 2>&1"


# A regime map: one comparison's paired difference across training-set sizes (config `regime_maps:`), from the
# summaries of its sizes and a reference run at the paper's scale; its figure is a `regime_map` figure.
rule regime_map:
    input:
        summaries=lookups.map_summaries,
        reference=lookups.map_reference,
    output:
        f"{RESULTS}/{REGIME_MAP}",
    log:
        layout.log_file("figures", "{map}"),
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lookups.map_spec,
        reference=lookups.map_reference_option,
    shell:
        "python -m unrolled regime-map --spec {params.spec:q} {params.reference} --out {output}"
        " {input.summaries} > {log} 2>&1"


rule figures:
    input:
        [lookups.figure(name) for name in config["figures"]],
        [lookups.figure(layout.across_figure(name)) for name in config["experiments"]],


rule table:
    input:
        summaries=lookups.made_from(lambda lookups, wildcards: lookups.summaries),
        zeroshot=lookups.made_from(lambda lookups, wildcards: lookups.zeroshot_summaries),
        icl=lookups.made_from(lambda lookups, wildcards: lookups.icl_summaries),
        theory=lookups.made_from(lambda lookups, wildcards: lookups.theory_results),
    output:
        md=report(layout.table_file(lookups.results), caption="../report/table.rst", category="Tables"),
    log:
        layout.log_file("figures", "table"),
    conda:
        "../envs/unrolled.yml"
    params:
        **lookups.table_params(workflow.overwrite_configfiles),
    shell:
        "python -m unrolled table --experiments {params.experiments:q} --config-name {params.config_name:q}"
        " --left-out {params.left_out:q} --summaries {input.summaries} --zeroshot {input.zeroshot}"
        " --icl {input.icl} --theory {input.theory} --out {output.md} > {log} 2>&1"

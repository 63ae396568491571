# Statistics over seeds: per-arm summaries and paired comparisons, one summary per experiment, and
# every run's validation curve in one table for `dvc plots show`.


rule summarize:
    input:
        runs=lookups.experiment_runs(METRICS),
    output:
        json=f"{RESULTS}/{EXPERIMENT}/{SUMMARY}",
        csv=f"{RESULTS}/{EXPERIMENT}/{SUMMARY_CSV}",
        curves=f"{RESULTS}/{CURVES}",
    log:
        layout.log_file("evaluate", EXPERIMENT),
    benchmark:
        lookups.benchmark("evaluate", EXPERIMENT)
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lookups.spec_json("experiments"),
        metrics=lookups.run_files(METRICS),
        histories=lookups.run_files(HISTORY),
    shell:
        "python -m unrolled summarize --experiment {wildcards.experiment} --spec {params.spec:q}"
        " --histories {params.histories} --out-json {output.json} --out-csv {output.csv}"
        " --out-curves {output.curves} {params.metrics} > {log} 2>&1"


rule summaries:
    input:
        lookups.summaries,


rule metrics:
    input:
        summaries=lookups.made_from(lambda lookups, wildcards: lookups.summaries),
    output:
        headline=directory(layout.metrics_files(lookups.results)[0]),
        all=layout.metrics_files(lookups.results)[1],
        params=layout.metrics_files(lookups.results)[2],
    log:
        layout.log_file("evaluate", "metrics"),
    conda:
        "../envs/unrolled.yml"
    shell:
        "python -m unrolled metrics {input.summaries} --out {output.headline} --out-all {output.all}"
        " --out-params {output.params} > {log} 2>&1"

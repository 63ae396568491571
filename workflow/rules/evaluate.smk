# Statistics over seeds: per-arm summaries and paired comparisons, one summary per experiment, and
# every run's validation curve in one table for `dvc plots show`.


rule summarize:
    input:
        metrics=experiment_runs(METRICS),
        histories=experiment_runs(HISTORY),
    output:
        json=experiment_file("{experiment}", "summary.json"),
        csv=experiment_file("{experiment}", "summary.csv"),
        curves=registry.curves_file("{experiment}", RESULTS),
    log:
        "logs/evaluate/{experiment}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{experiment}}.tsv"
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lambda wildcards: json.dumps(experiment_spec(wildcards.experiment)),
    shell:
        "python -m unrolled summarize --experiment {wildcards.experiment} --spec {params.spec:q}"
        " --histories {input.histories} --out-json {output.json} --out-csv {output.csv}"
        " --out-curves {output.curves} {input.metrics} > {log} 2>&1"


rule summaries:
    input:
        [experiment_file(name, "summary.json") for name in config["experiments"]],


rule metrics:
    input:
        summaries=rules.summaries.input,
    output:
        json=f"{RESULTS}/metrics.json",
    log:
        "logs/evaluate/metrics.log",
    conda:
        "../envs/unrolled.yml"
    shell:
        "python -m unrolled metrics {input.summaries} --out {output.json} > {log} 2>&1"

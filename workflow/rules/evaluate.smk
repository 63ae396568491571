# Statistics over seeds: per-arm summaries and paired comparisons, one summary per experiment.


rule summarize:
    input:
        metrics=lambda wildcards: run_paths(wildcards.experiment, "metrics.json"),
    output:
        json="results/{experiment}/summary.json",
        csv="results/{experiment}/summary.csv",
    params:
        spec=lambda wildcards: json.dumps(experiment_spec(wildcards.experiment)),
    log:
        "logs/evaluate/{experiment}.log",
    benchmark:
        "results/benchmarks/evaluate/{experiment}.tsv"
    conda:
        "../envs/unrolled.yml"
    shell:
        "python -m unrolled summarize --experiment {wildcards.experiment} --spec {params.spec:q}"
        " --runs results/runs --out-json {output.json} --out-csv {output.csv} > {log} 2>&1"


rule summaries:
    input:
        expand("results/{experiment}/summary.json", experiment=config["experiments"]),


rule metrics:
    input:
        summaries=rules.summaries.input,
    output:
        json="results/metrics.json",
    log:
        "logs/evaluate/metrics.log",
    conda:
        "../envs/unrolled.yml"
    shell:
        "python -m unrolled metrics {input.summaries} --out {output.json} > {log} 2>&1"

# In-context linear regression: each run's query error by number of examples, then the curves over
# seeds beside least squares, the optimal estimator and Lasso on the same test prompts.


rule icl_eval:
    input:
        run="results/runs/{experiment}/{arm}/seed{seed}/metrics.json",
        data=lambda wildcards: f"data/prepared/{experiment_spec(wildcards.experiment)['dataset']}",
    output:
        json="results/runs/{experiment}/{arm}/seed{seed}/icl.json",
    params:
        run=lambda wildcards, input: os.path.dirname(input.run),
    log:
        "logs/icl/{experiment}/{arm}/seed{seed}.log",
    benchmark:
        "results/benchmarks/icl/{experiment}/{arm}/seed{seed}.tsv"
    threads: config["train_threads"]
    conda:
        "../envs/unrolled.yml"
    shell:
        "OMP_NUM_THREADS={threads} python -m unrolled icl-eval --run {params.run} --data {input.data}"
        " --out {output.json} > {log} 2>&1"


rule summarize_icl:
    input:
        runs=lambda wildcards: run_paths(wildcards.experiment, "icl.json"),
        data=lambda wildcards: f"data/prepared/{experiment_spec(wildcards.experiment)['dataset']}",
    output:
        json="results/{experiment}/icl.json",
    params:
        spec=lambda wildcards: json.dumps(experiment_spec(wildcards.experiment)),
    log:
        "logs/icl/{experiment}.log",
    benchmark:
        "results/benchmarks/icl/{experiment}.tsv"
    conda:
        "../envs/unrolled.yml"
    shell:
        "python -m unrolled summarize-icl --experiment {wildcards.experiment} --spec {params.spec:q}"
        " --runs results/runs --data {input.data} --out {output.json} > {log} 2>&1"

# Zero-shot evaluation: every run of an experiment that lists `zeroshot:` benchmarks is scored on each,
# from its final checkpoint; then statistics over seeds per experiment.


rule zeroshot:
    input:
        run="results/runs/{experiment}/{arm}/seed{seed}/metrics.json",
        benchmark="data/prepared/{benchmark}",
        data=lambda wildcards: f"data/prepared/{experiment_spec(wildcards.experiment)['dataset']}",
        tokenizer=lambda wildcards: tokenizer_inputs(wildcards.experiment),
    output:
        json="results/runs/{experiment}/{arm}/seed{seed}/zeroshot/{benchmark}.json",
    params:
        run=lambda wildcards, input: os.path.dirname(input.run),
        bpe=lambda wildcards, input: f"--bpe {input.tokenizer}" if input.tokenizer else "",
    log:
        "logs/zeroshot/{experiment}/{arm}/seed{seed}/{benchmark}.log",
    benchmark:
        "results/benchmarks/zeroshot/{experiment}/{arm}/seed{seed}/{benchmark}.tsv"
    threads: config["train_threads"]
    resources:
        gpu=lambda wildcards: min(1, experiment_spec(wildcards.experiment).get("resources", {}).get("gpu", 0)),
    conda:
        "../envs/unrolled.yml"
    shell:
        "OMP_NUM_THREADS={threads} python -m unrolled zeroshot --run {params.run} --benchmark {input.benchmark}"
        " --data {input.data} {params.bpe} --out {output.json} > {log} 2>&1"


rule summarize_zeroshot:
    input:
        runs=lambda wildcards: zeroshot_paths(wildcards.experiment),
    output:
        json="results/{experiment}/zeroshot.json",
    params:
        spec=lambda wildcards: json.dumps(experiment_spec(wildcards.experiment)),
    log:
        "logs/zeroshot/{experiment}.log",
    conda:
        "../envs/unrolled.yml"
    shell:
        "python -m unrolled summarize-zeroshot --experiment {wildcards.experiment} --spec {params.spec:q}"
        " --runs results/runs --out {output.json} > {log} 2>&1"

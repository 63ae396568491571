# Zero-shot evaluation: every run of an experiment that lists `zeroshot:` benchmarks is scored on each,
# from its final checkpoint; then statistics over seeds per experiment.


rule zeroshot:
    input:
        unpack(lookups.evaluation_inputs),
    output:
        json=f"{RUNS}/{RUN}/{ZEROSHOT}",
    log:
        layout.log_file("zeroshot", f"{RUN}/{{benchmark}}"),
    benchmark:
        lookups.benchmark("zeroshot", f"{RUN}/{{benchmark}}")
    wildcard_constraints:
        experiment=lookups.trained_experiments,
    # Right after its training, before the next training job: the weights are only where they trained.
    priority: 10
    conda:
        "../envs/unrolled.yml"
    threads: config["train_threads"]
    resources:
        gpu=lambda wildcards: min(1, lookups.resource("gpu")(wildcards)),  # one GPU at most, where training has one
    params:
        run_dir=lookups.run_path,
        data=lookups.data_path,
        benchmark=lambda wildcards: layout.prepared_dir(wildcards.benchmark),
        bpe=lambda wildcards: " ".join(f"--bpe {folder}" for folder in lookups.tokenizer_inputs(wildcards)),
    shell:
        "OMP_NUM_THREADS={threads} python -m unrolled zeroshot --run-dir {params.run_dir} --benchmark {params.benchmark}"
        " --data {params.data} {params.bpe} --out {output.json} > {log} 2>&1"


rule summarize_zeroshot:
    input:
        runs=lookups.zeroshot_runs,
    output:
        json=f"{RESULTS}/{EXPERIMENT}/{ZEROSHOT_SUMMARY}",
    log:
        layout.log_file("zeroshot", EXPERIMENT),
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lookups.spec_json("experiments"),
    shell:
        "python -m unrolled summarize-zeroshot --experiment {wildcards.experiment} --spec {params.spec:q}"
        " --out {output.json} {input.runs} > {log} 2>&1"

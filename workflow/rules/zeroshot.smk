# Zero-shot evaluation: every run of an experiment that lists `zeroshot:` benchmarks is scored on each,
# from its final checkpoint; then statistics over seeds per experiment.


rule zeroshot:
    input:
        unpack(unless_partial(evaluation_inputs)),
    output:
        json=run_file("{experiment}", "{arm}", "{seed}", registry.zeroshot_name("{benchmark}")),
    log:
        "logs/zeroshot/{experiment}/{arm}/seed{seed}/{benchmark}.log",
    benchmark:
        f"{RESULTS}/benchmarks/zeroshot/{{experiment}}/{{arm}}/seed{{seed}}/{{benchmark}}.tsv"
    conda:
        "../envs/unrolled.yml"
    threads: config["train_threads"]
    resources:
        gpu=lambda wildcards: min(1, experiment_spec(wildcards.experiment).get("resources", {}).get("gpu", 0)),
    params:
        run=run_path,
        bpe=lambda wildcards: " ".join(f"--bpe {folder}" for folder in tokenizer_inputs(wildcards)),
    shell:
        "OMP_NUM_THREADS={threads} python -m unrolled zeroshot --run {params.run} --benchmark {input.benchmark}"
        " --data {input.data} {params.bpe} --out {output.json} > {log} 2>&1"


rule summarize_zeroshot:
    input:
        runs=zeroshot_runs,
    output:
        json=experiment_file("{experiment}", "zeroshot.json"),
    log:
        "logs/zeroshot/{experiment}.log",
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lambda wildcards: json.dumps(experiment_spec(wildcards.experiment)),
    shell:
        "python -m unrolled summarize-zeroshot --experiment {wildcards.experiment} --spec {params.spec:q}"
        " --out {output.json} {input.runs} > {log} 2>&1"

# Training: one job per run {experiment}/{arm}/seed{n}. The checkpoint is not a declared output, so
# Snakemake keeps it when a job fails or is killed, and the rerun resumes from it. An experiment
# with resources.gpu > 1 trains each run data-parallel under torchrun, one process per GPU.


rule train:
    input:
        data=lambda wildcards: f"data/prepared/{experiment_spec(wildcards.experiment)['dataset']}",
    output:
        metrics="results/runs/{experiment}/{arm}/seed{seed}/metrics.json",
        history="results/runs/{experiment}/{arm}/seed{seed}/history.csv",
    params:
        config=lambda wildcards: json.dumps(run_config(experiment_spec(wildcards.experiment), wildcards.arm)),
        out=lambda wildcards, output: os.path.dirname(output.metrics),
        launcher=lambda wildcards: launcher(experiment_spec(wildcards.experiment)),
    log:
        "logs/train/{experiment}/{arm}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{experiment}/{arm}/seed{seed}.tsv"
    threads: config["train_threads"]
    resources:
        gpu=lambda wildcards: experiment_spec(wildcards.experiment).get("resources", {}).get("gpu", 0),
        mem_mb=lambda wildcards: experiment_spec(wildcards.experiment).get("resources", {}).get("mem_mb", 4000),
        runtime=lambda wildcards: experiment_spec(wildcards.experiment).get("resources", {}).get("runtime", 60),
    conda:
        "../envs/unrolled.yml"
    shell:
        "{params.launcher} -m unrolled train --config {params.config:q} --seed {wildcards.seed} --out {params.out}"
        " --threads {threads} --no-progress > {log} 2>&1"

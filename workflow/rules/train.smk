# Training. Every job trains a seed group of one arm, `{job}`: the experiment's seeds in groups of `ensemble`
# (default 1), each group one process that writes each run's files {experiment}/{arm}/seed{n}/. A group of
# one (`seed{n}`) ends with its run's metrics.json; a larger group, a seed ensemble (`ensemble-seed{a}-{b}`),
# with its job's record beside its members (layout.job_record), and the rules that read its runs' files wait
# for that record (`lookups.trained`). Checkpoints are not declared outputs, so Snakemake keeps them when a
# job fails or is killed, and the rerun resumes from them. An experiment with resources.gpu = N > 1 trains
# each run data-parallel: the job locks N GPUs and starts torchrun with one rank on each (`--processes`; on
# the CPU, N gloo processes). Snakemake may lower the `gpu` resource it schedules with to --resources; the
# job still starts that many ranks, or fails clearly.


# A tuned arm's choice of its sweep, made once (its input is `ancient`): every seed group of the arm, on any
# machine, trains with the same value.
rule tune:
    input:
        lookups.sweep_summary,
    output:
        f"{RESULTS}/{TUNED}",
    log:
        layout.log_file("train", f"{ARM}/tune"),
    conda:
        "../envs/unrolled.yml"
    params:
        tune=lookups.tune_params,
    shell:
        "python -m unrolled tune --summary {input:q} --key {params.tune[key]} --values {params.tune[values]:q}"
        " --out {output:q} > {log} 2>&1"


# An arm's finished run config: the recipe's model and train with the arm's switches, a tuned arm's choice,
# what its data set fixes and every default, checked once. Every seed group of the arm trains it as it is.
# A second's work: it runs where Snakemake runs, never as a cluster job.
rule run_config:
    input:
        unpack(lookups.run_config_inputs),
    output:
        f"{RUNS}/{ARM}/{RUN_CONFIG}",
    log:
        layout.log_file("train", f"{ARM}/run_config"),
    wildcard_constraints:
        experiment=lookups.trained_experiments,
    localrule: True
    conda:
        "../envs/unrolled.yml"
    params:
        config=lookups.run_config,
        tuned=lookups.tuned_option,
    shell:
        "python -m unrolled run-config --config {params.config:q} {params.tuned} --out {output:q} > {log} 2>&1"


rule train:
    input:
        unpack(lookups.training_inputs),
    output:
        f"{RUNS}/{JOB}/{METRICS}",
    log:
        layout.log_file("train", JOB),
    benchmark:
        lookups.benchmark("train", JOB)
    wildcard_constraints:
        experiment=lookups.trained_experiments,
        job=layout.JOB_NAME,
    conda:
        "../envs/unrolled.yml"
    threads: config["train_threads"]
    resources:
        gpu=lookups.resource("gpu"),
        mem_mb=lookups.resource("mem_mb"),
        runtime=lookups.resource("runtime"),
    params:
        config=lookups.run_config_file,
        seeds=lambda wildcards: " ".join(map(str, lookups.job_seeds(wildcards))),
        out=lookups.arm_path,
        processes=lookups.resource("gpu"),
        compile_cache=lookups.compile_cache,
    shell:
        "python -m unrolled train --config {params.config:q} --seeds {params.seeds}"
        " --out {params.out} --threads {threads} --processes {params.processes} {params.compile_cache}"
        " > {log} 2>&1"

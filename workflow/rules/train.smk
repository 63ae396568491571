# Training. An experiment trains one job per run {experiment}/{arm}/seed{n} (rule train), or, with
# `ensemble: E`, one job per group of E seeds that trains them as a seed ensemble in one process and
# writes the same per-seed files (one rule per group, made below). Checkpoints are not declared
# outputs, so Snakemake keeps them when a job fails or is killed, and the rerun resumes from them. An
# experiment with resources.gpu = N > 1 trains each run data-parallel: the job locks N GPUs and starts
# torchrun with one rank on each (`--processes`; on the CPU, N gloo processes).


rule train:
    input:
        unpack(unless_partial(training_inputs)),
    output:
        metrics=run_file("{experiment}", "{arm}", "{seed}", METRICS),
        history=run_file("{experiment}", "{arm}", "{seed}", HISTORY),
    log:
        "logs/train/{experiment}/{arm}/seed{seed}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}/{{arm}}/seed{{seed}}.tsv"
    wildcard_constraints:
        experiment=SINGLE_RUN_EXPERIMENTS,
    conda:
        "../envs/unrolled.yml"
    threads: config["train_threads"]
    resources:
        gpu=train_gpus,
        mem_mb=experiment_resource("mem_mb", 4000),
        runtime=experiment_resource("runtime", 60),
    params:
        config=lambda wildcards: json.dumps(
            run_config(experiment_spec(wildcards.experiment), wildcards.arm, results=RESULTS)
        ),
        out=lambda wildcards, output: os.path.dirname(output.metrics),
        processes=train_gpus,
        compile_cache=compile_cache_arg,
    shell:
        "python -m unrolled train --config {params.config:q} --seed {wildcards.seed} --out {params.out}"
        " --threads {threads} --processes {params.processes} {params.compile_cache} > {log} 2>&1"


for _experiment, _groups in ENSEMBLES.items():
    for _group in _groups:
        _seeds = f"{_group[0]}-{_group[-1]}"

        rule:
            name:
                f"train_ensemble_{_experiment}_seed{_seeds}"
            input:
                unpack(unless_partial(training_inputs)),
            output:
                metrics=[run_file("{experiment}", "{arm}", s, METRICS) for s in _group],
                history=[run_file("{experiment}", "{arm}", s, HISTORY) for s in _group],
            log:
                f"logs/train/{{experiment}}/{{arm}}/seed{_seeds}.log",
            benchmark:
                f"{RESULTS}/benchmarks/train/{{experiment}}/{{arm}}/seed{_seeds}.tsv"
            wildcard_constraints:
                experiment=_exact([_experiment]),
            conda:
                "../envs/unrolled.yml"
            threads: config["train_threads"]
            resources:
                gpu=train_gpus,
                mem_mb=experiment_resource("mem_mb", 4000),
                runtime=experiment_resource("runtime", 60),
            params:
                config=rules.train.params.config,
                seeds=" ".join(map(str, _group)),
                out=lambda wildcards: registry.arm_dir(wildcards.experiment, wildcards.arm, RUNS),
                compile_cache=rules.train.params.compile_cache,
            shell:
                "python -m unrolled train --config {params.config:q} --seeds {params.seeds} --out {params.out}"
                " --threads {threads} {params.compile_cache} > {log} 2>&1"

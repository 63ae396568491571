# Training. Every job trains a seed group of one arm: the experiment's seeds in groups of `ensemble`
# (default 1), each group one process that writes each run's files {experiment}/{arm}/seed{n}/. A group of
# one is the train rule; a larger group is trained as a seed ensemble by a rule made below from the train
# rule, differing only in its outputs and seeds. Checkpoints are not declared outputs, so Snakemake keeps
# them when a job fails or is killed, and the rerun resumes from them. An experiment with resources.gpu =
# N > 1 trains each run data-parallel: the job locks N GPUs and starts torchrun with one rank on each
# (`--processes`; on the CPU, N gloo processes). Snakemake may lower the `gpu` resource it schedules with
# to --resources; the job still starts that many ranks, or fails clearly.


# A tuned arm's choice of its sweep, made once (its input is `ancient`): every seed group of the arm, on any
# machine, trains with the same value.
rule tune:
    input:
        lookups.sweep_summary,
    output:
        layout.tuned_file("{experiment}", "{arm}", lookups.results),
    log:
        layout.log_file("train", "{experiment}/{arm}/tune"),
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
        layout.run_config_file("{experiment}", "{arm}", lookups.runs),
    log:
        layout.log_file("train", "{experiment}/{arm}/run_config"),
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
        metrics=lookups.run_file("{experiment}", "{arm}", "{seed}", METRICS),
        history=lookups.run_file("{experiment}", "{arm}", "{seed}", HISTORY),
    log:
        layout.log_file("train", "{experiment}/{arm}/seed{seed}"),
    benchmark:
        lookups.benchmark("train", "{experiment}/{arm}/seed{seed}")
    wildcard_constraints:
        experiment=lookups.single_run_experiments,
    conda:
        "../envs/unrolled.yml"
    threads: config["train_threads"]
    resources:
        gpu=lookups.resource("gpu"),
        mem_mb=lookups.resource("mem_mb"),
        runtime=lookups.resource("runtime"),
    params:
        config=lookups.run_config_file,
        seeds=lambda wildcards: wildcards.seed,
        out=lookups.arm_path,
        processes=lookups.resource("gpu"),
        compile_cache=lookups.compile_cache,
    shell:
        "python -m unrolled train --config {params.config:q} --seeds {params.seeds}"
        " --out {params.out} --threads {threads} --processes {params.processes} {params.compile_cache}"
        " > {log} 2>&1"


# A seed group of more than one: the train rule with the group's outputs and seeds.
for _experiment, _groups in lookups.ensembles.items():
    for _group in _groups:
        _name = layout.group_name(_group)

        rule:
            name:
                f"train_ensemble_{_experiment}_{_name}"
            input:
                unpack(lambda wildcards, group=_group: lookups.training_inputs(wildcards, group)),
            output:
                metrics=[lookups.run_file("{experiment}", "{arm}", s, METRICS) for s in _group],
                history=[lookups.run_file("{experiment}", "{arm}", s, HISTORY) for s in _group],
            log:
                layout.log_file("train", f"{{experiment}}/{{arm}}/{_name}"),
            benchmark:
                lookups.benchmark("train", f"{{experiment}}/{{arm}}/{_name}")
            wildcard_constraints:
                experiment=exact([_experiment]),
            conda:
                "../envs/unrolled.yml"
            params:
                config=rules.train.params.config,
                seeds=" ".join(map(str, _group)),
                out=rules.train.params.out,
                processes=rules.train.params.processes,
                compile_cache=rules.train.params.compile_cache,
            shell:
                rules.train.rule.shellcmd

        # Threads and resources are the train rule's, as the config and a profile's set-threads / set-resources
        # for `train` made them (Snakemake matches those by rule name; these rules' names are made here).
        getattr(rules, f"train_ensemble_{_experiment}_{_name}").rule.resources = rules.train.rule.resources.copy()

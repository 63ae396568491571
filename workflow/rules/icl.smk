# In-context linear regression: each run's query error by number of examples, then the curves over
# seeds beside least squares, the optimal estimator and Lasso on the same test prompts.


rule icl_eval:
    input:
        unpack(lookups.evaluation_inputs),
    output:
        json=f"{RUNS}/{RUN}/{ICL}",
    log:
        layout.log_file("icl", RUN),
    benchmark:
        lookups.benchmark("icl", RUN)
    wildcard_constraints:
        experiment=lookups.trained_experiments,
    # Right after its training, before the next training job: the weights are only where they trained.
    priority: 10
    conda:
        "../envs/unrolled.yml"
    threads: config["train_threads"]
    params:
        run_dir=lookups.run_path,
        data=lookups.data_path,
    shell:
        "OMP_NUM_THREADS={threads} python -m unrolled icl-eval --run-dir {params.run_dir} --data {params.data}"
        " --out {output.json} > {log} 2>&1"


rule summarize_icl:
    input:
        unpack(lookups.icl_summary_inputs),
    output:
        json=f"{RESULTS}/{EXPERIMENT}/{ICL}",
    log:
        layout.log_file("icl", EXPERIMENT),
    benchmark:
        lookups.benchmark("icl", EXPERIMENT)
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lookups.spec_json("experiments"),
        data=lookups.data_path,
    shell:
        "python -m unrolled summarize-icl --experiment {wildcards.experiment} --spec {params.spec:q}"
        " --data {params.data} --out {output.json} {input.runs} > {log} 2>&1"

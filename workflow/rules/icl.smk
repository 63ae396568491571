# In-context linear regression: each run's query error by number of examples, then the curves over
# seeds beside least squares, the optimal estimator and Lasso on the same test prompts.


rule icl_eval:
    input:
        unpack(R.evaluation_inputs),
    output:
        json=R.run_file("{experiment}", "{arm}", "{seed}", ICL),
    log:
        layout.log_file("icl", "{experiment}/{arm}/seed{seed}"),
    benchmark:
        R.benchmark("icl", "{experiment}/{arm}/seed{seed}")
    wildcard_constraints:
        experiment=R.trained_experiments,
    # Right after its training, before the next training job: the weights are only where they trained.
    priority: 10
    conda:
        "../envs/unrolled.yml"
    threads: config["train_threads"]
    params:
        run=R.run_path,
    shell:
        "OMP_NUM_THREADS={threads} python -m unrolled icl-eval --run {params.run} --data {input.data}"
        " --out {output.json} > {log} 2>&1"


rule summarize_icl:
    input:
        runs=R.experiment_runs(ICL),
        data=R.experiment_data,
    output:
        json=R.summary("{experiment}", ICL),
    log:
        layout.log_file("icl", "{experiment}"),
    benchmark:
        R.benchmark("icl", "{experiment}")
    conda:
        "../envs/unrolled.yml"
    params:
        spec=R.spec_json("experiments"),
    shell:
        "python -m unrolled summarize-icl --experiment {wildcards.experiment} --spec {params.spec:q}"
        " --data {input.data} --out {output.json} {input.runs} > {log} 2>&1"

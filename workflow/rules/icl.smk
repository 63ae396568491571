# In-context linear regression: each run's query error by number of examples, then the curves over
# seeds beside least squares, the optimal estimator and Lasso on the same test prompts.


rule icl_eval:
    input:
        unpack(unless_partial(evaluation_inputs)),
    output:
        json=run_file("{experiment}", "{arm}", "{seed}", ICL),
    log:
        "logs/icl/{experiment}/{arm}/seed{seed}.log",
    benchmark:
        f"{RESULTS}/benchmarks/icl/{{experiment}}/{{arm}}/seed{{seed}}.tsv"
    conda:
        "../envs/unrolled.yml"
    threads: config["train_threads"]
    params:
        run=run_path,
    shell:
        "OMP_NUM_THREADS={threads} python -m unrolled icl-eval --run {params.run} --data {input.data}"
        " --out {output.json} > {log} 2>&1"


rule summarize_icl:
    input:
        runs=experiment_runs(ICL),
        data=experiment_data,
    output:
        json=experiment_file("{experiment}", ICL),
    log:
        "logs/icl/{experiment}.log",
    benchmark:
        f"{RESULTS}/benchmarks/icl/{{experiment}}.tsv"
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lambda wildcards: json.dumps(experiment_spec(wildcards.experiment)),
    shell:
        "python -m unrolled summarize-icl --experiment {wildcards.experiment} --spec {params.spec:q}"
        " --data {input.data} --out {output.json} {input.runs} > {log} 2>&1"

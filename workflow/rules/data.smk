# Data stage: fetch pinned sources into data/raw/, build data sets into data/prepared/.


# Downloads run on the submit host (`localrule`): cluster compute nodes often have no internet.
rule fetch_source:
    output:
        raw=directory(registry.raw_dir("{source}")),
    log:
        registry.log_file("data", "fetch_{source}"),
    benchmark:
        registry.benchmark_file("data", "fetch_{source}", registry.LOGS)
    localrule: True
    conda:
        "../envs/unrolled.yml"
    params:
        spec=R.spec_json("sources"),
    shell:
        "python -m unrolled fetch --name {wildcards.source} --spec {params.spec:q} --out {output.raw} > {log} 2>&1"


rule prepare_dataset:
    input:
        unpack(R.dataset_inputs),
    output:
        data=directory(registry.prepared_dir("{dataset}")),
    log:
        registry.log_file("data", "prepare_{dataset}"),
    benchmark:
        registry.benchmark_file("data", "prepare_{dataset}", registry.LOGS)
    conda:
        "../envs/unrolled.yml"
    params:
        spec=R.spec_json("datasets"),
        sources=lambda wildcards, input: " ".join(f"--source {role}={path}" for role, path in input.items()),
    shell:
        "python -m unrolled prepare --name {wildcards.dataset} --spec {params.spec:q}"
        " {params.sources} --out {output.data} > {log} 2>&1"


rule data:
    input:
        [registry.prepared_dir(name) for name in config["data_targets"]],
    localrule: True

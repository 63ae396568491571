# Data stage: fetch pinned sources into data/raw/, build data sets into data/prepared/.


# Downloads run on the submit host (`localrule`): cluster compute nodes often have no internet.
rule fetch_source:
    output:
        raw=directory(SOURCE),
    log:
        layout.log_file("data", "fetch_{source}"),
    benchmark:
        layout.benchmark_file("data", "fetch_{source}", layout.LOGS)
    localrule: True
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lookups.spec_json("sources"),
    shell:
        "python -m unrolled fetch --name {wildcards.source} --spec {params.spec:q} --out {output.raw} > {log} 2>&1"


rule prepare_dataset:
    input:
        unpack(lookups.dataset_inputs),
    output:
        data=directory(DATASET),
    log:
        layout.log_file("data", "prepare_{dataset}"),
    benchmark:
        layout.benchmark_file("data", "prepare_{dataset}", layout.LOGS)
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lookups.spec_json("datasets"),
        pins=lookups.dataset_pins,
        sources=lambda wildcards, input: " ".join(f"--source {role}={path}" for role, path in input.items()),
    shell:
        "python -m unrolled prepare --name {wildcards.dataset} --spec {params.spec:q}"
        " {params.sources} --out {output.data} > {log} 2>&1"


rule data:
    input:
        [layout.prepared_dir(name) for name in config["data_targets"]],
    localrule: True

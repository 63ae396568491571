# The papers' theory experiments: unrolled Laplacian Eigenmaps on MNIST, and MSSA's SNR growth.


rule theory_probdr:
    input:
        unpack(lookups.probdr_inputs),
    output:
        json=lookups.theory("probdr")[0],
        latents=lookups.theory("probdr")[1],
    log:
        layout.log_file("theory", "probdr"),
    benchmark:
        lookups.benchmark("theory", "probdr")
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lookups.theory_json("probdr"),
        data=lambda wildcards: layout.prepared_dir(config["theory"]["probdr"]["dataset"]),
    shell:
        "python -m unrolled theory-probdr --spec {params.spec:q} --data {params.data} --out-json {output.json}"
        " --out-latents {output.latents} > {log} 2>&1"


rule theory_snr:
    output:
        json=lookups.theory("snr")[0],
    log:
        layout.log_file("theory", "snr"),
    benchmark:
        lookups.benchmark("theory", "snr")
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lookups.theory_json("snr"),
    shell:
        "python -m unrolled theory-snr --spec {params.spec:q} --out {output.json} > {log} 2>&1"


rule theory:
    input:
        lookups.theory_results,

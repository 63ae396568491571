# The papers' theory experiments: unrolled Laplacian Eigenmaps on MNIST, and MSSA's SNR growth.


rule theory_probdr:
    input:
        data=lambda wildcards: registry.prepared_dir(config["theory"]["probdr"]["dataset"]),
    output:
        json=registry.theory_files("probdr", RESULTS)[0],
        latents=registry.theory_files("probdr", RESULTS)[1],
    log:
        "logs/theory/probdr.log",
    benchmark:
        f"{RESULTS}/benchmarks/theory/probdr.tsv"
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lambda wildcards: json.dumps(config["theory"]["probdr"]),
    shell:
        "python -m unrolled theory-probdr --spec {params.spec:q} --data {input.data} --out-json {output.json}"
        " --out-latents {output.latents} > {log} 2>&1"


rule theory_snr:
    output:
        json=registry.theory_files("snr", RESULTS)[0],
    log:
        "logs/theory/snr.log",
    benchmark:
        f"{RESULTS}/benchmarks/theory/snr.tsv"
    conda:
        "../envs/unrolled.yml"
    params:
        spec=lambda wildcards: json.dumps(config["theory"]["snr"]),
    shell:
        "python -m unrolled theory-snr --spec {params.spec:q} --out {output.json} > {log} 2>&1"


rule theory:
    input:
        [registry.theory_files(name, RESULTS)[0] for name in config["theory"]],

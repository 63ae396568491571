# The papers' theory experiments: unrolled Laplacian Eigenmaps on MNIST, and MSSA's SNR growth.


rule theory_probdr:
    input:
        data=lambda wildcards: f"data/prepared/{config['theory']['probdr']['dataset']}",
    output:
        json="results/theory/probdr.json",
        latents="results/theory/probdr_latents.npz",
    params:
        spec=lambda wildcards, input: json.dumps(
            {k: v for k, v in config["theory"]["probdr"].items() if k != "dataset"} | {"data": input.data}
        ),
    log:
        "logs/theory/probdr.log",
    benchmark:
        "results/benchmarks/theory/probdr.tsv"
    conda:
        "../envs/unrolled.yml"
    shell:
        "python -m unrolled theory-probdr --spec {params.spec:q} --out-json {output.json}"
        " --out-latents {output.latents} > {log} 2>&1"


rule theory_snr:
    output:
        json="results/theory/snr.json",
    params:
        spec=lambda wildcards: json.dumps(config["theory"]["snr"]),
    log:
        "logs/theory/snr.log",
    benchmark:
        "results/benchmarks/theory/snr.tsv"
    conda:
        "../envs/unrolled.yml"
    shell:
        "python -m unrolled theory-snr --spec {params.spec:q} --out {output.json} > {log} 2>&1"


rule theory:
    input:
        ["results/theory/probdr.json"] if "probdr" in config["theory"] else [],
        ["results/theory/snr.json"] if "snr" in config["theory"] else [],

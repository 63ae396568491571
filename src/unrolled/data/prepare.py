"""Build `data/prepared/{name}/` from fetched sources: one builder per data set family.

A builder gets the fetched source folders by role (e.g. `text`, `bpe`, `images`), a temp output folder
and the data set's options, writes its files and returns the fields for meta.json. Builders import the
modules that need numpy when they run: the Snakefile reads these tables in an environment that may hold
only Snakemake (as the workflow catalog's lint runs it).
"""

from __future__ import annotations

import logging
from pathlib import Path

from unrolled.atomic import atomic_dir, write_json
from unrolled.data.sources import load_provenance
from unrolled.errors import UnrolledError
from unrolled.layout import META

GPT2_RANKS = "gpt2.tiktoken"
# What each image builder reads: its images' shape and classes, the source's training images (of which the
# builder holds out val_fraction) and its official held-out images (validation: official). The builders build
# with these; `expected_meta` sizes a model from them where the data set is not prepared.
IMAGE_SOURCES = {
    "mnist_csv": {"shape": [1, 28, 28], "classes": 10, "train": 5_000, "official": 0},
    "idx": {"shape": [1, 28, 28], "classes": 10, "train": 60_000, "official": 10_000},  # MNIST, Fashion-MNIST
    "cifar10": {"shape": [3, 32, 32], "classes": 10, "train": 50_000, "official": 10_000},
    "imagenet16": {"shape": [3, 16, 16], "classes": 1000, "train": 1_281_167, "official": 50_000},
}
CHAR_VOCABULARY = 65  # tiny-shakespeare's characters: a char data set's vocabulary until it is built


def _ranks(dirs: dict[str, Path]) -> tuple[Path, str]:
    provenance = load_provenance(dirs["bpe"])
    return dirs["bpe"] / GPT2_RANKS, provenance["files"][GPT2_RANKS]


def _corpus(dirs, opts) -> tuple[str, list[str]]:
    """The joined text files, cut to the first `max_chars` characters if the data set says so."""
    from unrolled.data import text

    corpus, files = text.read_corpus(dirs["text"], opts.get("files", ["*.txt"]))
    return corpus[: opts.get("max_chars")], files


def _text_char(dirs, out, opts):
    from unrolled.data import text

    corpus, files = _corpus(dirs, opts)
    return text.build_char(corpus, out, opts["val_fraction"], opts.get("train_chars")) | {"documents": files}


def _text_gpt2(dirs, out, opts):
    from unrolled.data import text

    corpus, files = _corpus(dirs, opts)
    return text.build_gpt2(corpus, out, opts["val_fraction"], *_ranks(dirs)) | {"documents": files}


def _openwebtext(dirs, out, opts):
    from unrolled.data.owt import build_owt

    return build_owt(dirs["text"], out, opts["val_fraction"], *_ranks(dirs), workers=opts.get("workers", 1))


def _image_set(train, test, out, opts, builder: str):
    from unrolled.data import images

    return images.build_images(train, test, out, opts["val_fraction"], opts["split_seed"],
                               IMAGE_SOURCES[builder]["classes"], opts.get("validation", "holdout"),
                               opts.get("train_images"))


def _mnist_csv(dirs, out, opts):
    from unrolled.data import images

    return _image_set(images.load_mnist_csv(dirs["images"] / "mnist_5k.csv.gz"), None, out, opts, "mnist_csv")


def _idx(dirs, out, opts):
    from unrolled.data import images

    d = dirs["images"]
    train = images.load_idx_pair(d, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    test = images.load_idx_pair(d, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return _image_set(train, test, out, opts, "idx")


def _cifar10(dirs, out, opts):
    from unrolled.data import images

    d = dirs["images"]
    train = images.load_cifar_batches(d, [f"data_batch_{i}" for i in range(1, 6)])
    return _image_set(train, images.load_cifar_batches(d, ["test_batch"]), out, opts, "cifar10")


def _imagenet16(dirs, out, opts):
    from unrolled.data import images

    d = dirs["images"]
    size = IMAGE_SOURCES["imagenet16"]["shape"][-1]
    train = images.load_imagenet_npz(d, "train_data_batch_*.npz", size)
    test = images.load_imagenet_npz(d, "val_data.npz", size)
    return _image_set(train, test, out, opts, "imagenet16")


def _linear_regression(dirs, out, opts):
    from unrolled.data import regression

    return regression.build(out, opts["n_dims"], opts["n_points"], opts.get("sparsity"), opts["noise_std"],
                            opts["eval_prompts"], opts["split_seed"])


def _benchmark(build: str, default_files=None):
    """A builder that calls unrolled.data.benchmarks' function `build` (numpy is imported when it runs, so
    the Snakefile can read this table in an environment holding only Snakemake)."""
    def builder(dirs, out, opts):
        from unrolled.data import benchmarks

        files = opts.get("files", default_files)
        if files is None:
            raise UnrolledError(f"this benchmark builder needs `files`: the pattern of its test file in {dirs['text']}")
        records = {"records": opts["records"]} if "records" in opts else {}
        return getattr(benchmarks, build)(dirs["text"], out, files, **records)
    return builder


def _lambada(dirs, out, opts):
    """OpenAI's passages (text), and for the lab's protocol the original release's (loss_text)."""
    from unrolled.data import benchmarks

    return benchmarks.build_lambada(dirs["text"], out, opts.get("files", ["*.jsonl"]), dirs.get("loss_text"))


def _text_cloze(dirs, out, opts):
    from unrolled.data import benchmarks

    return benchmarks.build_text_cloze(dirs["text"], out, opts)


BUILDERS = {
    "text_char": _text_char,
    "text_gpt2": _text_gpt2,
    "openwebtext": _openwebtext,
    "mnist_csv": _mnist_csv,
    "idx": _idx,
    "cifar10": _cifar10,
    "imagenet16": _imagenet16,
    "linear_regression": _linear_regression,
}
BENCHMARK_BUILDERS = {  # zero-shot benchmarks: examples.jsonl that each model tokenizes its own way
    "lambada": _lambada,
    "text_document": _benchmark("build_document"),
    "cbt": _benchmark("build_cbt"),
    "text_cloze": _text_cloze,
}
BUILDERS |= BENCHMARK_BUILDERS


def expected_meta(spec: dict) -> dict:
    """What a data set's builder would write to meta.json that a model's size and a plan's counts depend on,
    before it is built: from the builder's constants and the data set's options."""
    builder = spec["builder"]
    if builder == "linear_regression":
        return {"kind": "regression", **{key: spec[key] for key in ("n_dims", "n_points", "eval_prompts")}}
    if builder in IMAGE_SOURCES:
        source = IMAGE_SOURCES[builder]
        if spec.get("validation") == "official":
            counts = {"train": source["train"], "val": source["official"]}
        else:
            val = round(source["train"] * spec.get("val_fraction", 0.1))
            counts = {"train": source["train"] - val, "val": val}
        if spec.get("train_images"):  # a class-balanced subset of the training images
            counts["train"] = min(counts["train"], spec["train_images"])
        return {"kind": "images", "shape": source["shape"], "num_classes": source["classes"], "counts": counts}
    if "bpe" in spec["sources"]:
        from unrolled.data.tokenizers import GPT2_EOT

        return {"tokenizer": "gpt2", "vocab_size": GPT2_EOT + 1}
    return {"tokenizer": "char", "vocab_size": CHAR_VOCABULARY}


def prepare(name: str, spec: dict, source_dirs: dict[str, str | Path], out: str | Path) -> dict:
    """Build data set `name` into `out` (whole or not at all) and return its meta.json."""
    builder = BUILDERS.get(spec["builder"])
    if builder is None:
        raise UnrolledError(f"dataset {name}: unknown builder {spec['builder']!r}; expected one of {sorted(BUILDERS)}")
    dirs = {role: Path(d) for role, d in source_dirs.items()}
    with atomic_dir(out) as tmp:
        fields = builder(dirs, tmp, spec)
        sources = {}
        for role, d in dirs.items():
            prov = load_provenance(d)
            sources[role] = {"source": prov["name"], "archive_sha256": prov["archive_sha256"], "files": prov["files"]}
        if spec["builder"] in BENCHMARK_BUILDERS:  # how models are scored on it (zeroshot.py)
            fields["protocol"] = spec.get("protocol", "sliding")
        meta = {"name": name, "builder": spec["builder"], **fields, "sources": sources}
        write_json(tmp / META, meta)
    sizes = {k: meta[k] for k in ("train_tokens", "val_tokens", "counts", "examples") if k in meta}
    logging.getLogger(__name__).info("prepared %s into %s: %s", name, out, sizes)
    return meta

"""Image loaders on small fixtures in the real formats, and the common on-disk format."""

from __future__ import annotations

import gzip
import json
import pickle

import numpy as np
import pytest

from unrolled.atomic import write_json
from unrolled.data import images
from unrolled.data.prepare import prepare
from unrolled.data.sources import PROVENANCE


def _idx(path, arr):
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def _fake_source(folder, name):
    write_json(folder / PROVENANCE, {"name": name, "archive_sha256": None, "files": {}})


def test_idx_round_trip_and_truncation(tmp_path):
    arr = np.arange(3 * 4 * 5).reshape(3, 4, 5) % 256
    _idx(tmp_path / "x-idx3-ubyte.gz", arr)
    np.testing.assert_array_equal(images.read_idx(tmp_path / "x-idx3-ubyte.gz"), arr)
    raw = gzip.decompress((tmp_path / "x-idx3-ubyte.gz").read_bytes())
    with gzip.open(tmp_path / "cut-idx3-ubyte.gz", "wb") as f:
        f.write(raw[:-7])
    with pytest.raises(ValueError, match=r"cut-idx3-ubyte.gz: header says \(3, 4, 5\).*truncated"):
        images.read_idx(tmp_path / "cut-idx3-ubyte.gz")


def test_idx_dataset_end_to_end(tmp_path):
    src = tmp_path / "raw"
    src.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 100), ("t10k", 20)):
        _idx(src / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _idx(src / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    _fake_source(src, "fx")
    out = tmp_path / "prepared" / "fx"
    meta = prepare("fx", {"builder": "idx", "val_fraction": 0.1, "split_seed": 0}, {"images": src}, out)
    assert meta["counts"] == {"train": 90, "val": 10, "test": 20}
    x, y = images.load_split(out, "train")
    assert x.shape == (90, 1, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    saved = json.loads((out / "meta.json").read_text())
    assert saved["shape"] == [1, 28, 28] and saved["sources"]["images"]["source"] == "fx"
    # train and val are a partition of the original train set
    xv, _ = images.load_split(out, "val")
    orig = images.read_idx(src / "train-images-idx3-ubyte.gz")
    both = np.concatenate([x, xv])[:, 0]
    assert sorted(map(bytes, both)) == sorted(map(bytes, orig))


def test_holdout_is_seeded():
    x, y = np.arange(50)[:, None], np.arange(50)
    (a, _), (b, _) = images.holdout(x, y, 0.2, seed=3)
    (c, _), (d, _) = images.holdout(x, y, 0.2, seed=3)
    (_, _), (e, _) = images.holdout(x, y, 0.2, seed=4)
    assert np.array_equal(b, d) and len(b) == 10 and not np.array_equal(b, e)
    assert set(a[:, 0]) | set(b[:, 0]) == set(range(50))


def test_channel_stats_match_numpy():
    x = np.random.default_rng(1).integers(0, 256, (37, 3, 5, 5)).astype(np.uint8)
    mean, std = images.channel_stats(x, chunk=8)
    ref = x.astype(np.float64) / 255
    np.testing.assert_allclose(mean, ref.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(std, ref.std(axis=(0, 2, 3)), rtol=1e-8)


def test_mnist_csv_and_bad_columns(tmp_path):
    rows = np.random.default_rng(2).integers(0, 256, (6, 785))
    rows[:, -1] = np.arange(6) % 10
    np.savetxt(tmp_path / "mnist_5k.csv.gz", rows, fmt="%d", delimiter=",")
    x, y = images.load_mnist_csv(tmp_path / "mnist_5k.csv.gz")
    assert x.shape == (6, 1, 28, 28) and list(y) == [0, 1, 2, 3, 4, 5]
    np.savetxt(tmp_path / "bad.csv.gz", rows[:, :700], fmt="%d", delimiter=",")
    with pytest.raises(ValueError, match="expected 785 columns"):
        images.load_mnist_csv(tmp_path / "bad.csv.gz")


def test_cifar_pickles(tmp_path):
    rng = np.random.default_rng(3)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                         b"labels": list(rng.integers(0, 10, 4))}, f)
    _fake_source(tmp_path, "cifar")
    out = tmp_path / "out"
    meta = prepare("cifar10", {"builder": "cifar10", "val_fraction": 0.25, "split_seed": 0},
                   {"images": tmp_path}, out)
    assert meta["counts"] == {"train": 15, "val": 5, "test": 4} and meta["shape"] == [3, 32, 32]


def test_imagenet16_npz_labels_are_zero_based(tmp_path):
    rng = np.random.default_rng(4)
    for name, n in (("train_data_batch_1.npz", 10), ("train_data_batch_2.npz", 15), ("val_data.npz", 5)):
        np.savez(tmp_path / name, data=rng.integers(0, 256, (n, 768), dtype=np.uint8),
                 labels=rng.integers(1, 1001, n))
    np.savez(tmp_path / "val_data.npz", data=rng.integers(0, 256, (5, 768), dtype=np.uint8),
             labels=np.array([1, 2, 3, 1000, 500]))
    _fake_source(tmp_path, "inet")
    out = tmp_path / "out"
    meta = prepare("imagenet16", {"builder": "imagenet16", "val_fraction": 0.2, "split_seed": 0},
                   {"images": tmp_path}, out)
    assert meta["num_classes"] == 1000 and meta["counts"] == {"train": 20, "val": 5, "test": 5}
    _, y = images.load_split(out, "test")
    assert list(y) == [0, 1, 2, 999, 499]


def test_failed_build_leaves_no_prepared_folder(tmp_path):
    src = tmp_path / "raw"
    src.mkdir()
    _fake_source(src, "fx")
    out = tmp_path / "prepared" / "fx"
    with pytest.raises(FileNotFoundError):
        prepare("fx", {"builder": "idx", "val_fraction": 0.1, "split_seed": 0}, {"images": src}, out)
    assert not out.exists() and list(out.parent.iterdir()) == []


@pytest.mark.parametrize("builder", ["cifar10", "imagenet16"])
def test_the_vit_data_sets_validate_on_the_official_held_out_set(tmp_path, builder):
    """Paper 1's ViT code trains on every training image and validates on the official held-out set
    (ImageNet 16x16's val_data.npz, CIFAR-10's test batch), not on images held out of train."""
    rng = np.random.default_rng(5)
    if builder == "cifar10":
        batches = {f"data_batch_{i}": 4 for i in range(1, 6)} | {"test_batch": 3}
        for name, n in batches.items():
            with open(tmp_path / name, "wb") as f:
                pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                             b"labels": list(rng.integers(0, 10, n))}, f)
        official = images.load_cifar_batches(tmp_path, ["test_batch"])
        train = images.load_cifar_batches(tmp_path, [f"data_batch_{i}" for i in range(1, 6)])
    else:
        for name, n in (("train_data_batch_1.npz", 10), ("train_data_batch_2.npz", 6), ("val_data.npz", 5)):
            np.savez(tmp_path / name, data=rng.integers(0, 256, (n, 768), dtype=np.uint8),
                     labels=rng.integers(1, 1001, n))
        official = images.load_imagenet_npz(tmp_path, "val_data.npz", 16)
        train = images.load_imagenet_npz(tmp_path, "train_data_batch_*.npz", 16)
    _fake_source(tmp_path, builder)
    out = tmp_path / "out"
    meta = prepare(builder, {"builder": builder, "validation": "official", "val_fraction": 0.1, "split_seed": 0},
                   {"images": tmp_path}, out)
    assert meta["validation"] == "official" and "val_fraction" not in meta
    assert meta["counts"] == {"train": len(train[1]), "val": len(official[1])}
    for split, (x, y) in (("val", official), ("train", train)):
        got_x, got_y = images.load_split(out, split)
        assert np.array_equal(got_x, x) and np.array_equal(got_y, y)
    assert not (out / "test_x.npy").exists()


def test_the_gpu_tier_vit_data_sets_use_the_official_split():
    import yaml
    from conftest import REPO

    datasets = yaml.safe_load((REPO / "config" / "sources.yaml").read_text())["datasets"]
    for name in ("cifar10", "imagenet16", "fashion_mnist_official"):
        assert datasets[name]["validation"] == "official", name
    gpu = yaml.safe_load((REPO / "config" / "gpu.yaml").read_text())["experiments"]
    assert {gpu[e]["dataset"] for e in ("p1_vit_imagenet16", "p1_vit_cifar10", "p1_vit_fashion")} == {
        "imagenet16", "cifar10", "fashion_mnist_official"}

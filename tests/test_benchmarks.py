"""The zero-shot benchmarks' sources and loaders: fixture files in the real formats, served from
127.0.0.1 through the real `url` sources of config/sources.yaml, then built by the real builders."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO, sha256

from unrolled.data.benchmarks import load_examples, make_cloze, parse_cbt
from unrolled.data.prepare import prepare
from unrolled.data.sources import fetch
from unrolled.errors import ChecksumError, SourceError

FIXTURES = Path(__file__).parent / "fixtures" / "zeroshot"
CATALOGUE = yaml.safe_load((REPO / "config" / "sources.yaml").read_text())


def _serve_archives(root: Path) -> None:
    """The fixtures packed as the real downloads are: lambada and PTB bare, WikiText zipped, CBT tarred."""
    for name in ("lambada_test.jsonl", "ptb.test.txt"):
        (root / name).write_bytes((FIXTURES / name).read_bytes())
    with zipfile.ZipFile(root / "wikitext-2-raw-v1.zip", "w") as zf:
        zf.write(FIXTURES / "wiki.test.raw", "wikitext-2-raw/wiki.test.raw")
        zf.writestr("wikitext-2-raw/wiki.train.raw", " = Not the test set = \n")
    with tarfile.open(root / "CBTest.tgz", "w:gz") as tf:
        for name in ("cbtest_CN_test_2500ex.txt", "cbtest_NE_test_2500ex.txt"):
            tf.add(FIXTURES / name, f"CBTest/data/{name}")
        for kind in ("CN", "NE"):  # the validation split (the lab's): the NE test questions, in its file names
            tf.add(FIXTURES / "cbtest_NE_test_2500ex.txt", f"CBTest/data/cbtest_{kind}_valid_2000ex.txt")
        data = b"1 a train line\n"
        info = tarfile.TarInfo("CBTest/data/cbtest_CN_train.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with tarfile.open(root / "lambada-dataset.tar.gz", "w:gz") as tf:  # the original release: plain text
        tf.add(FIXTURES / "lambada_test_plain_text.txt", "lambada_test_plain_text.txt")
        tf.addfile(tarfile.TarInfo("train-novels.tar"), io.BytesIO(b""))


def _local_spec(source: str, base: str, root: Path) -> dict:
    """The catalogue's entry with its url moved to the loopback server and re-pinned to the fixture."""
    spec = dict(CATALOGUE["sources"][source])
    filename = Path(spec["url"]).name
    return spec | {"url": f"{base}/{filename}", "sha256": sha256(root / filename)}


@pytest.fixture
def prepared(http_root, tmp_path):
    root, base, _ = http_root
    _serve_archives(root)
    raw, out = {}, {}
    for source in ("lambada", "ptb", "wikitext2", "cbt", "lambada_original"):
        raw[source] = tmp_path / "raw" / source
        fetch(source, _local_spec(source, base, root), raw[source], external=tmp_path / "external")
    for name in ("lambada", "ptb", "wikitext", "cbt_cn", "cbt_ne", "lambada_lab", "cbt_cn_lab", "cbt_ne_lab"):
        spec = CATALOGUE["datasets"][name]
        out[name] = tmp_path / "prepared" / name
        prepare(name, spec, {role: raw[src] for role, src in spec["sources"].items()}, out[name])
    return raw, out


def test_catalogue_pins_every_benchmark_file():
    for source in ("lambada", "ptb", "wikitext2", "cbt", "lambada_original"):
        spec = CATALOGUE["sources"][source]
        assert spec["kind"] == "url" and len(spec["sha256"]) == 64, source


def test_fetched_archives_keep_only_the_test_files(prepared):
    raw, _ = prepared
    assert sorted(p.name for p in raw["wikitext2"].iterdir()) == ["SOURCE.json", "wiki.test.raw"]
    assert sorted(p.name for p in raw["cbt"].iterdir()) == [
        "SOURCE.json", "cbtest_CN_test_2500ex.txt", "cbtest_CN_valid_2000ex.txt", "cbtest_NE_test_2500ex.txt",
        "cbtest_NE_valid_2000ex.txt"]
    assert sorted(p.name for p in raw["lambada_original"].iterdir()) == ["SOURCE.json", "lambada_test_plain_text.txt"]


def test_the_lab_benchmarks_are_built_as_the_lab_code_reads_them(prepared):
    """lambada_lab: OpenAI's passages for accuracy, the original release's lines for the loss; CBT's lab twins
    read the validation split."""
    _, out = prepared
    assert load_examples(out["lambada_lab"]) == load_examples(out["lambada"])
    loss = load_examples(out["lambada_lab"], "loss_texts.jsonl")
    assert [e["text"] for e in loss] == (FIXTURES / "lambada_test_plain_text.txt").read_text().splitlines()
    meta = json.loads((out["lambada_lab"] / "meta.json").read_text())
    assert meta["protocol"] == "lab" and meta["loss_texts"] == 2
    assert meta["sources"]["loss_text"]["source"] == "lambada_original"
    assert not (out["lambada"] / "loss_texts.jsonl").exists()
    for kind in ("cn", "ne"):
        assert load_examples(out[f"cbt_{kind}_lab"]) == load_examples(out["cbt_ne"])  # the valid file's questions
        assert CATALOGUE["datasets"][f"cbt_{kind}_lab"]["files"] == [f"cbtest_{kind.upper()}_valid_2000ex.txt"]


def test_lambada_loader(prepared):
    _, out = prepared
    examples = load_examples(out["lambada"])
    assert len(examples) == 3
    assert examples[0]["text"].endswith("the light from the lighthouse")
    meta = json.loads((out["lambada"] / "meta.json").read_text())
    assert (meta["kind"], meta["task"], meta["examples"]) == ("zeroshot", "lambada", 3)
    assert meta["sources"]["text"]["source"] == "lambada"


def test_document_loaders_keep_the_text_as_distributed(prepared):
    _, out = prepared
    for name, fixture, records in (("ptb", "ptb.test.txt", "lines"), ("wikitext", "wiki.test.raw", "wikitext")):
        (example,) = load_examples(out[name])
        assert example["text"] == (FIXTURES / fixture).read_text(), name
        meta = json.loads((out[name] / "meta.json").read_text())
        assert (meta["task"], meta["records"]) == ("perplexity", records)  # the lab's loader's rule, from the catalogue


def test_cbt_loader(prepared):
    _, out = prepared
    cn, ne = load_examples(out["cbt_cn"]), load_examples(out["cbt_ne"])
    assert len(cn) == 2 and len(ne) == 1
    first = cn[0]
    assert first["query"] == "The hen walked back to the XXXXX before dark ."
    assert first["answer"] == "mill" and len(first["candidates"]) == 10
    assert first["context"].startswith("Sentence number 1 tells") and "Sentence number 20" in first["context"]
    assert "21" not in first["context"].split()  # line numbers are stripped
    assert ne[0]["answer"] == "Ann" and ne[0]["query"].startswith("XXXXX")


@pytest.mark.parametrize("bad,match", [
    ("1 context\n21 no blank here\tx\t\ta|x\n", "XXXXX"),
    ("1 context\n21 a XXXXX b\tz\t\ta|b\n", "not among the candidates"),
    ("one context line without its number\n", "numbered line"),
    ("1 context\n2 more context\n", "ends inside an example"),
])
def test_cbt_parser_names_the_file_and_line_of_bad_input(tmp_path, bad, match):
    path = tmp_path / "cbtest_bad.txt"
    path.write_text(bad)
    with pytest.raises(ValueError, match=match) as info:
        parse_cbt(path)
    assert "cbtest_bad.txt" in str(info.value)


def test_lambada_builder_rejects_a_malformed_line(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "lambada_test.jsonl").write_text('{"text": "fine passage here"}\n{"txt": "wrong key"}\n')
    (src / "SOURCE.json").write_text(json.dumps({"name": "lambada", "archive_sha256": None, "files": {}}))
    with pytest.raises(ValueError, match=r"lambada_test.jsonl:2.*text"):
        prepare("lambada", {"builder": "lambada", "sources": {"text": "lambada"}}, {"text": src}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_offline_user_is_told_which_file_goes_where(tmp_path):
    spec = CATALOGUE["sources"]["ptb"] | {"url": "http://127.0.0.1:9/ptb.test.txt", "timeout": 2}
    with pytest.raises(SourceError) as info:
        fetch("ptb", spec, tmp_path / "raw" / "ptb", external=tmp_path / "external")
    message = str(info.value)
    assert str(tmp_path / "external" / "ptb" / "ptb.test.txt") in message
    assert spec["sha256"] in message and "ptb.test.txt" in message
    assert not (tmp_path / "raw" / "ptb").exists()


def test_a_placed_file_is_used_offline_and_still_checked(tmp_path):
    fixture = FIXTURES / "ptb.test.txt"
    spec = CATALOGUE["sources"]["ptb"] | {"url": "http://127.0.0.1:9/ptb.test.txt", "sha256": sha256(fixture)}
    placed = tmp_path / "external" / "ptb"
    placed.mkdir(parents=True)
    (placed / "ptb.test.txt").write_bytes(fixture.read_bytes())
    fetch("ptb", spec, tmp_path / "raw" / "ptb", external=tmp_path / "external")
    assert (tmp_path / "raw" / "ptb" / "ptb.test.txt").read_bytes() == fixture.read_bytes()
    (placed / "ptb.test.txt").write_bytes(fixture.read_bytes()[:-10])  # a truncated copy is refused
    with pytest.raises(ChecksumError, match="ptb.test.txt"):
        fetch("ptb", spec, tmp_path / "raw" / "ptb2", external=tmp_path / "external")
    assert not (tmp_path / "raw" / "ptb2").exists()


def test_cloze_from_held_out_lines():
    lines = [f"Line {i} speaks of castles, rivers, thunder and gardens near number{i}" for i in range(60)]
    examples = make_cloze(lines, questions=10, context_lines=5, candidates=6, seed=3)
    assert examples == make_cloze(lines, questions=10, context_lines=5, candidates=6, seed=3)
    assert len(examples) == 10
    for ex in examples:
        assert ex["query"].count("XXXXX") == 1 and ex["answer"] in ex["candidates"]
        assert len(ex["candidates"]) == len(set(ex["candidates"])) == 6
        assert all(len(c) >= 4 for c in ex["candidates"])
        others = [c for c in ex["candidates"] if c != ex["answer"]]
        assert all(c in ex["context"] for c in others)  # distractors come from the context, as in CBT
        assert ex["query"].replace("XXXXX", ex["answer"]) in lines
    with pytest.raises(ValueError, match="only"):
        make_cloze(lines[:8], questions=10, context_lines=5, candidates=6, seed=3)


def test_shakespeare_cloze_uses_only_held_out_text(tmp_path):
    from unrolled.data import text

    src = tmp_path / "shakespeare"
    src.mkdir()
    words = "castle river thunder garden meadow lantern harbour forest candle mirror orchard falcon".split()
    train_part = "\n".join(f"Trainline {i} with words abundant enough here" for i in range(200))
    held_out = "\n".join(f"Heldline {i} " + " ".join(words[(i + j) % len(words)] for j in range(4))
                         for i in range(400))
    (src / "play_gut.txt").write_text(train_part + "\n" + held_out + "\n")
    (src / "SOURCE.json").write_text(json.dumps({"name": "shakespeare", "archive_sha256": None, "files": {}}))
    spec = CATALOGUE["datasets"]["shakespeare_cloze"] | {"questions": 20}
    prepare("shakespeare_cloze", spec, {"text": src}, tmp_path / "cloze")
    corpus, _ = text.read_corpus(src, ["*.txt"])
    _, val = text.split_text(corpus, spec["val_fraction"])
    for ex in load_examples(tmp_path / "cloze"):
        assert ex["query"].replace("XXXXX", ex["answer"]) in val
        assert "Trainline" not in ex["context"] + ex["query"]


def test_cbt_context_lines_and_the_question_are_stripped_as_the_lab_s_builder_does(tmp_path):
    path = tmp_path / "cbt.txt"
    lines = [f"{i}   Line {i} here .  " for i in range(1, 21)] + ["21  Who was XXXXX ?  \tTom\t\tTom|Ann", ""]
    path.write_text("\n".join(lines) + "\n")
    (example,) = parse_cbt(path)
    assert example["context"] == " ".join(f"Line {i} here ." for i in range(1, 21))
    assert example["query"] == "Who was XXXXX ?" and example["candidates"] == ["Tom", "Ann"]

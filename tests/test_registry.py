"""The experiment registry, the schema and the code agree."""

from __future__ import annotations

from dataclasses import fields

import yaml

from conftest import REPO
from unrolled.models import ModelConfig
from unrolled.registry import figure_inputs, run_config, seeds
from unrolled.train import TrainConfig

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
DERIVED_FROM_DATA = {"task", "vocab_size", "image_size", "channels", "num_classes", "n_dims"}


def test_schema_lists_exactly_the_model_and_train_fields():
    model_keys = set(SCHEMA["$defs"]["model"]["properties"])
    assert model_keys == {f.name for f in fields(ModelConfig)} - DERIVED_FROM_DATA
    assert set(SCHEMA["$defs"]["train"]["properties"]) == {f.name for f in fields(TrainConfig)}


def test_run_config_is_base_plus_arm():
    spec = {"dataset": "shakespeare_char", "model": {"n_layer": 4, "mlp": "gelu"}, "train": {"lr": 1e-3},
            "arms": {"vanilla": {}, "aot": {"mlp": "none"}, "empty": None}, "seeds": 3}
    assert run_config(spec, "aot") == {"data": "data/prepared/shakespeare_char",
                                       "model": {"n_layer": 4, "mlp": "none"}, "train": {"lr": 1e-3}}
    assert run_config(spec, "empty")["model"] == {"n_layer": 4, "mlp": "gelu"}
    assert seeds(spec) == [0, 1, 2] and seeds({"seeds": [5, 9]}) == [5, 9]


def test_figure_inputs_are_summaries_histories_or_theory_only():
    exps = {"lm": {"arms": {"a": {}, "b": {}}, "seeds": 2}}
    curves = figure_inputs({"kind": "curves", "experiment": "lm", "arms": ["a", "b"]}, exps)
    assert curves == [f"results/runs/lm/{a}/seed{s}/history.csv" for a in "ab" for s in (0, 1)]
    assert figure_inputs({"kind": "grid", "experiment": "lm"}, exps) == ["results/lm/summary.json"]
    assert all("ckpt" not in f for f in curves)


def test_paper_config_runs_every_experiment_of_both_papers():
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    claims = {c for spec in paper["experiments"].values() for c in spec.get("claims", {})}
    assert {"p1_char_lm", "p1_vit", "p1_gpt2_owt", "p2_lm", "p2_vit"} <= claims
    assert set(paper["theory"]) == {"probdr", "snr"}
    p1 = paper["experiments"]["p1_shakespeare_char"]
    assert p1["seeds"] == 100 and p1["model"] == {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256,
                                                  "dropout": 0.2, "bias": False}

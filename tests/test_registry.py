"""The experiment registry, the schema and the code agree."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from unrolled import checks, here, layout, registry
from unrolled.config import TrainConfig, run_config
from unrolled.layout import run_file, run_of, runs_named
from unrolled.models import ModelConfig
from unrolled.registry import figure_inputs, run_files, seeds
from unrolled.summaries import load_runs

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
DERIVED_FROM_DATA = {"task", "vocab_size", "image_size", "channels", "num_classes", "n_dims"}


def test_the_schemas_model_and_train_sections_are_generated_from_the_dataclasses():
    """A field's name, type, bounds and values are written once, on the dataclass: the committed schema's
    sections are the generated ones (`python -m unrolled.schema` rewrites them), a config sets every field but
    those the data set fixes, and an arm may name exactly the model's fields and its sweep."""
    from unrolled import schema

    assert schema.committed()[1] == schema.generated()
    defs = SCHEMA["$defs"]
    assert set(defs["model"]["properties"]) == {f.name for f in fields(ModelConfig)} - DERIVED_FROM_DATA
    assert set(defs["arm"]["properties"]) == set(defs["model"]["properties"]) | {"tune"}
    assert set(defs["train"]["properties"]) == {f.name for f in fields(TrainConfig)}
    assert defs["model"]["properties"]["identity"] == {"enum": ["none", "subtract", "learned", "exclusive"]}
    assert defs["train"]["properties"]["eval_iters"] == {"type": ["integer", "null"], "minimum": 1}


def test_a_dataclass_checks_its_values_as_the_schema_does():
    """Every field that takes one of a few values refuses another, in the schema's words; so do the bounds."""
    from unrolled.config import choices

    for cls, section in ((ModelConfig, "model"), (TrainConfig, "train")):
        assert choices(cls)
        for key, allowed in choices(cls).items():
            words = ", ".join(map(repr, allowed))
            with pytest.raises(ValueError, match=f"{section}.{key}: 'other' is not one of {words}"):
                cls(**{key: "other"})
    # the dataclasses' own check (plain Python: the trainer needs no jsonschema) accepts what the config's schema
    # check does (JSON Schema's, with 1.0 not an integer)
    from unrolled.schema import field_error, section, validator
    for cls in (ModelConfig, TrainConfig):
        for key, prop in section(cls, in_config=False)["properties"].items():
            for value in (None, True, False, 0, 1, -1, 0.5, 1.0, 1.5, 2, "x", "cpu", "cuda:1", *prop.get("enum", [])):
                valid = validator(prop).is_valid(value)
                assert (field_error(value, prop) is None) == valid, (cls.__name__, key, value)
    with pytest.raises(ValueError, match=r"^model.dropout: 1.5 is not a number >= 0 and <= 1$"):
        ModelConfig(dropout=1.5)
    with pytest.raises(ValueError, match=r"^train.eval_iters: 0 is not an integer or null >= 1$"):
        TrainConfig(eval_iters=0)
    assert TrainConfig(eval_iters=None).eval_iters is None


def test_run_config_is_base_plus_arm():
    spec = {"dataset": "shakespeare_char", "model": {"n_layer": 4, "mlp": "gelu"}, "train": {"lr": 1e-3},
            "arms": {"vanilla": {}, "aot": {"mlp": "none"}, "empty": None}, "seeds": 3}
    assert run_config(spec, "aot") == {"data": "data/prepared/shakespeare_char",
                                       "model": {"n_layer": 4, "mlp": "none"}, "train": {"lr": 1e-3}}
    assert run_config(spec, "empty")["model"] == {"n_layer": 4, "mlp": "gelu"}
    assert seeds(spec) == [0, 1, 2] and seeds({"seeds": [5, 9]}) == [5, 9]


def test_the_run_layout_is_one_function_and_its_inverse():
    assert run_file("lm", "a_minus_i", 3, "metrics.json") == "results/runs/lm/a_minus_i/seed3/metrics.json"
    # a rule passes wildcards through the same function
    assert run_file("{experiment}", "{arm}", "{seed}", layout.zeroshot_name("{benchmark}")) == \
        "results/runs/{experiment}/{arm}/seed{seed}/zeroshot/{benchmark}.json"
    for name in ("metrics.json", layout.zeroshot_name("lambada")):
        path = run_file("lm", "a_minus_i", 12, name, root="/tmp/elsewhere/runs")
        assert run_of(path, name) == ("lm", "a_minus_i", 12)
    with pytest.raises(ValueError, match="not a run's metrics.json"):
        run_of("results/lm/summary.json", "metrics.json")
    with pytest.raises(ValueError, match="not a run's icl.json"):
        run_of("results/runs/lm/vanilla/seed0/metrics.json", "icl.json")
    arm = layout.arm_dir("lm", "vanilla")
    assert layout.member_dir(arm, 4) == layout.run_dir("lm", "vanilla", 4)
    # a training job: a group of one is its run (its checkpoint and record are the run's); a larger group has
    # its own folder, and its name is the train rule's {job} wildcard
    assert (layout.job_name([4]), layout.job_name([4, 5, 6])) == ("seed4", "ensemble-seed4-6")
    assert layout.job_dir(arm, [4]) == layout.run_dir("lm", "vanilla", 4)
    assert layout.job_dir(arm, [4, 5, 6]) == "results/runs/lm/vanilla/ensemble-seed4-6"
    assert layout.job_record(arm, "seed4") == layout.run_file("lm", "vanilla", 4, layout.METRICS)
    assert all(re.fullmatch(layout.JOB_NAME, layout.job_name(g)) for g in ([4], [4, 5, 6], [10, 12]))
    assert not re.fullmatch(layout.JOB_NAME, "seed4/ensemble-seed4-6")


SPEC = {"arms": {"vanilla": {}, "a_minus_i": {}}, "seeds": [2, 0]}


def _write_runs(root, name, seeds_by_arm):
    for arm, seeds_ in seeds_by_arm.items():
        for s in seeds_:
            path = Path(run_file("lm", arm, s, name, root))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"arm": arm, "seed": s}))


def test_load_runs_reads_exactly_the_experiments_runs(tmp_path):
    _write_runs(tmp_path, "metrics.json", {"vanilla": [0, 2, 5], "a_minus_i": [0, 2]})  # seed 5: stale
    files = run_files("lm", SPEC, "metrics.json", tmp_path)
    assert len(files) == 4
    runs = load_runs(files, SPEC, "metrics.json")
    assert {arm: list(by_seed) for arm, by_seed in runs.items()} == {"vanilla": [2, 0], "a_minus_i": [2, 0]}
    assert runs["a_minus_i"][2] == {"arm": "a_minus_i", "seed": 2}
    with pytest.raises(ValueError, match=r"missing \['a_minus_i/seed0'\]"):
        load_runs(files[:-1], SPEC, "metrics.json")
    with pytest.raises(ValueError, match=r"not in it \['vanilla/seed5'\]"):
        load_runs([*files, run_file("lm", "vanilla", 5, "metrics.json", tmp_path)], SPEC, "metrics.json")
    Path(files[0]).unlink()
    with pytest.raises(FileNotFoundError, match="seed2/metrics.json: missing"):
        load_runs(files, SPEC, "metrics.json")


def test_runs_named_picks_one_benchmarks_results():
    files = [run_file("lm", "vanilla", 0, layout.zeroshot_name(b)) for b in ("cbt", "lambada", "ptb")]
    assert runs_named(files, layout.zeroshot_name("lambada")) == [files[1]]


def test_figure_inputs_are_summaries_histories_or_theory_only():
    exps = {"lm": {"arms": {"a": {}, "b": {}}, "seeds": 2}}
    curves = figure_inputs({"kind": "curves", "experiment": "lm", "arms": ["a", "b"]}, exps)
    assert curves == [f"results/runs/lm/{a}/seed{s}/history.csv" for a in "ab" for s in (0, 1)]
    assert figure_inputs({"kind": "grid", "experiment": "lm"}, exps) == ["results/lm/summary.json"]
    assert all("ckpt" not in f for f in curves)


def test_paper_config_runs_every_experiment_of_both_papers():
    paper = _config("paper.yaml")
    claims = {c for spec in paper["experiments"].values() for c in spec.get("claims", {})}
    assert {"p1_char_lm", "p1_vit", "p1_gpt2_owt", "p2_lm", "p2_vit"} <= claims
    assert set(paper["theory"]) == {"probdr", "snr"}
    p1 = paper["experiments"]["p1_shakespeare_char"]  # its recipe, p1_char, filled in over the trainer's defaults
    model, train = ModelConfig(**p1["model"]), TrainConfig(**p1["train"])
    assert p1["seeds"] == 100 and p1["recipe"] == "p1_char"
    assert (model.n_layer, model.n_head, model.n_embd, model.block_size, model.dropout, model.bias) == \
        (6, 6, 384, 256, 0.2, False)  # nanoGPT's train_shakespeare_char
    assert (train.batch_size, train.max_iters, train.lr, train.min_lr, train.warmup_iters, train.beta2,
            train.weight_decay, train.grad_clip, train.eval_interval, train.eval_iters) == \
        (64, 5000, 1e-3, 1e-4, 100, 0.99, 0.1, 1.0, 250, 200)
    assert train.lr_decay_iters is None  # the cosine ends at max_iters, whatever an experiment sets it to


def test_no_config_restates_a_value_it_does_not_change():
    """An experiment's model and train keys each change the value it would get unwritten (its recipe's, else
    the trainer's default), and a recipe's each change the trainer's default: a value written twice would have to
    be changed twice."""
    recipes = yaml.safe_load((REPO / "config" / "recipes.yaml").read_text())["recipes"]
    defaults = {"model": ModelConfig(), "train": TrainConfig()}
    for name, recipe in recipes.items():
        for part in ("model", "train"):
            same = [k for k, v in recipe.get(part, {}).items() if getattr(defaults[part], k) == v]
            assert not same, f"recipes.{name}.{part} restates the trainer's defaults {same}"
    for file in ("config.yaml", "smoke.yaml", "paper.yaml", "gpu.yaml", "regime.yaml"):
        # resources set once a config: no `resources:` written out twice (an anchor shares one)
        written = re.findall(r"resources: (?:&\w+ )?(\{.*?\})", (REPO / "config" / file).read_text())
        assert len(written) == len(set(written)), f"{file} writes the same resources twice: {written}"
        for name, spec in yaml.safe_load((REPO / "config" / file).read_text())["experiments"].items():
            recipe = recipes.get(spec.get("recipe"), {})
            for part in ("model", "train"):  # what it would get unwritten: its recipe's value, else the default
                inherited = {**{k: getattr(defaults[part], k) for k in vars(defaults[part])}, **recipe.get(part, {})}
                same = [k for k, v in spec.get(part, {}).items() if k in inherited and inherited[k] == v]
                assert not same, f"{file}: experiments.{name}.{part} restates its recipe's or the default's {same}"
            # resources set once a config: an experiment's say only what differs from its train_resources
            shared = yaml.safe_load((REPO / "config" / file).read_text()).get("train_resources", {})
            same = [k for k, v in spec.get("resources", {}).items() if shared.get(k) == v]
            assert not same, f"{file}: experiments.{name}.resources restates train_resources' {same}"


def _config(name, resolved=True):
    """The catalogues, then the registry merged into them key by key (as Snakemake merges configfiles)."""
    return registry.load_config([REPO / "config" / name], resolved, checkout=REPO)


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "paper.yaml", "gpu.yaml", "regime.yaml"])
def test_every_shipped_config_passes_the_cross_checks(name, tmp_path, monkeypatch):
    config = _config(name)
    monkeypatch.chdir(tmp_path)  # where a paper.yaml user has placed ImageNet 16x16 and OpenWebText
    for folder in ("imagenet16", "openwebtext"):
        (tmp_path / "data" / "external" / folder).mkdir(parents=True)
        (tmp_path / "data" / "external" / folder / "part").write_bytes(b"x")
    checks.check_config(config)


@pytest.mark.parametrize("edit, needle", [
    (lambda c: c["experiments"]["lm_char"].update(baseline="vanila"),
     "config: experiments.lm_char.baseline: 'vanila' is not one of its arms"),
    (lambda c: c["experiments"]["lm_char"].update(pairs=[["xsa", "gpt"]]), "experiments.lm_char.pairs.0: 'gpt'"),
    (lambda c: c["experiments"]["lm_char"].update(dataset="nope"), "experiments.lm_char.dataset names 'nope'"),
    (lambda c: c["figures"]["p2_lm_curves"].update(arms=["vanilla", "xsb"]),
     "figures.p2_lm_curves names arm 'xsb'"),
    (lambda c: c["theory"].pop("snr"), "figures.p2_snr draws theory.snr"),
    (lambda c: c["experiments"]["lm_char"].update(ensemble=4, resources={"gpu": 2}), "an ensemble trains in one"),
    (lambda c: c["experiments"]["lm_char"].update(ensemble=2, model={"loss_chunk": 512}),
     "arms.vanilla: model.loss_chunk is for single runs"),
])
def test_cross_checks_name_the_key(edit, needle):
    config = _config("config.yaml")
    edit(config)
    with pytest.raises(ValueError, match=re.escape(needle)):
        checks.check_config(config)


def test_schema_errors_are_one_short_line_naming_the_key():
    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    config = _config("config.yaml", resolved=False)
    checks.check_schema(config, schema)
    config["experiments"]["lm_char"]["train"]["max_itres"] = 5
    with pytest.raises(ValueError) as info:
        checks.check_schema(config, schema)
    first, *rest = str(info.value).splitlines()
    assert first.startswith("config: experiments.lm_char.train.max_itres: unknown key 'max_itres'; expected one of [")
    assert "'max_iters'" in first and rest == []  # one line, no traceback or schema dump


def test_an_experiment_whose_data_is_elsewhere_stays_in_once_it_has_runs_here(tmp_path, monkeypatch):
    """The GPU tier's ImageNet ViT trained on a node that had ImageNet: where its per-seed files are copied,
    it is summarized (not left out for its missing data), and the Fashion-MNIST stand-in is not needed."""
    config = _config("gpu.yaml", resolved=False)
    monkeypatch.chdir(tmp_path)
    assert "p1_vit_imagenet16" in here.resolve_here(registry.resolve(copy.deepcopy(config)))["left_out"]
    for arm in ("vanilla", "a_minus_i", "xsa"):  # seed 0 of every arm, copied from the GPU node
        metrics = tmp_path / layout.run_file("p1_vit_imagenet16", arm, 0, layout.METRICS, "results/gpu/runs")
        metrics.parent.mkdir(parents=True)
        metrics.write_text("{}")
    resolved = here.resolve_here(registry.resolve(copy.deepcopy(config)))
    assert "p1_vit_imagenet16" in resolved["experiments"] and "p1_vit_fashion" in resolved["left_out"]
    assert resolved["figures"]["p1_vit_violin"]["experiment"] == "p1_vit_imagenet16"
    with pytest.raises(ValueError, match="data set 'imagenet16'"):  # training more seeds needs the data ...
        checks.check_config(resolved)
    partial = here.resolve_here(registry.resolve({**copy.deepcopy(config), "partial": True}))
    checks.check_config(partial)  # ... summarizing the finished ones does not
    assert partial["experiments"]["p1_vit_imagenet16"]["seeds"] == [0]


def test_the_layout_imports_nothing_of_the_config_and_is_all_the_trainer_and_data_code_import():
    import ast

    tree = ast.parse((REPO / "src" / "unrolled" / "layout.py").read_text())
    imported = {n.module if isinstance(n, ast.ImportFrom) else a.name for n in ast.walk(tree)
                if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert imported == {"__future__", "re", "collections.abc", "pathlib"}
    code = ("import sys, unrolled.train, unrolled.data.prepare, unrolled.data.sources, unrolled.data.batches, "
            "unrolled.checkpoint; print(sorted(m for m in sys.modules if m in "
            "('unrolled.registry', 'unrolled.rules', 'unrolled.summaries', 'unrolled.layout')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['unrolled.layout']"


def test_the_config_imports_nothing_of_the_models_so_no_import_cycle():
    """The models import the config (ModelConfig, the seed-group rule); the config, the registry and the
    checks import no model, not even inside a function, and no torch."""
    import ast

    for name in ("config.py", "registry.py", "checks.py", "here.py"):
        tree = ast.parse((REPO / "src" / "unrolled" / name).read_text())
        imported = {n.module if isinstance(n, ast.ImportFrom) else a.name for n in ast.walk(tree)
                    if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        assert not {m for m in imported if m and (m.startswith("unrolled.models") or m == "torch")}, name


def test_show_run_prints_the_run_config_or_what_it_waits_for(tmp_path, monkeypatch, capsys):
    """Before its inputs are here: the arm's switches over its experiment's model and the inputs its run.yaml
    waits for; with them, the finished config as the run_config rule will write it (the same function: the
    tuned value, every field the data set fixes); once made, the file itself."""
    from unrolled.cli import main as cli_main

    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "config", tmp_path / "config")
    show = ["show-run", "p1_tinyshakespeare", "a_minus_i_tuned", "--configfile", "config/gpu.yaml"]
    assert cli_main(show) == 0
    shown = capsys.readouterr().out
    # the tier's train_resources, its one seed group of 6
    assert shown.startswith("# p1_tinyshakespeare/a_minus_i_tuned: seed groups [[0, 1, 2, 3, 4, 5]], resources "
                            "{'gpu': 1, 'mem_mb': 16000, 'runtime': 30}\n")
    made = layout.run_config_file("p1_tinyshakespeare", "a_minus_i_tuned", "results/gpu/runs")
    choice = tmp_path / layout.tuned_file("p1_tinyshakespeare", "a_minus_i_tuned", "results/gpu")
    meta = tmp_path / "data" / "prepared" / "tinyshakespeare_char" / "meta.json"
    assert (f"# {made} waits for {meta.relative_to(tmp_path)} and {choice.relative_to(tmp_path)} (snakemake "
            f"{meta.parent.relative_to(tmp_path)} {choice.relative_to(tmp_path)} makes it)") in shown
    run = yaml.safe_load(shown)
    assert run["model"]["identity"] == "subtract" and "tuned" not in run and "vocab_size" not in run["model"]
    choice.parent.mkdir(parents=True)
    choice.write_text(json.dumps({"experiment": "p1_char_dropout_sweep", "arm": "a_minus_i_0p3", "key": "dropout",
                                  "value": 0.3}))
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"tokenizer": "char", "vocab_size": 65}))
    assert cli_main(show) == 0
    shown = capsys.readouterr().out
    assert f"# {made}, as the run_config rule will write it:" in shown
    run = yaml.safe_load(shown)
    assert run["model"]["dropout"] == 0.3 and run["tuned"]["arm"] == "a_minus_i_0p3"
    assert run["train"]["lr_decay_iters"] is None and run["model"]["vocab_size"] == 65  # every field, finished
    Path(made).parent.mkdir(parents=True)
    Path(made).write_text(yaml.safe_dump({**run, "model": {**run["model"], "dropout": 0.25}}))
    assert cli_main(show) == 0
    assert yaml.safe_load(capsys.readouterr().out)["model"]["dropout"] == 0.25  # the file, as made


def test_an_arm_set_gives_its_arms_and_pairs_where_the_experiment_sets_none():
    arm_sets = yaml.safe_load((REPO / "config" / "recipes.yaml").read_text())["arm_sets"]
    icl = arm_sets["icl_variants"]
    default, gpu = _config("config.yaml")["experiments"], _config("gpu.yaml")["experiments"]
    assert default["icl_sparse"]["arms"] == icl["arms"] and default["icl_sparse"]["pairs"] == icl["pairs"]
    assert gpu["p2_icl_sparse"]["arms"] == icl["arms"]
    assert gpu["p2_icl_sparse"]["pairs"] == [["aot_mhsa_a_minus_i", "aot_mhsa"], ["aot_mssa_a_minus_i", "aot_mssa"]]
    # a config over the registry that gives the experiment its own arms (the smoke config) keeps them
    smoke = registry.load_config([REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml"], checkout=REPO)
    assert list(smoke["experiments"]["icl_dense"]["arms"]) == ["vanilla", "aot_mssa_a_minus_i"]


def test_a_runs_files_are_made_by_its_training_jobs_record_which_names_the_jobs_seeds():
    """The rules that read a run's metrics.json or history.csv wait for the file the train rule makes: a group
    of one's metrics.json, a seed ensemble's record (`Lookups.trained`); the train rule's `{job}` gives its
    seeds, an ensemble's only as the config groups them. With `partial`, nothing trains: the runs' own files."""
    from types import SimpleNamespace

    from unrolled.rules import Lookups

    experiments = {"ens": {"arms": {"vanilla": {}}, "seeds": 5, "ensemble": 2},
                   "one": {"arms": {"vanilla": {}}, "seeds": 2}}
    lookups = Lookups({"results": "results/x", "partial": False, "experiments": experiments})
    runs = layout.runs_root("results/x")
    files = [run_file("ens", "vanilla", s, name, runs) for s in (0, 1, 4) for name in (layout.METRICS, layout.HISTORY)]
    others = [run_file("ens", "vanilla", 3, layout.ICL, runs),
              layout.experiment_file("ens", layout.SUMMARY, "results/x")]
    assert lookups.trained([*files, run_file("one", "vanilla", 1, layout.HISTORY, runs), *others]) == [
        f"{runs}/ens/vanilla/ensemble-seed0-1/metrics.json", run_file("ens", "vanilla", 4, layout.METRICS, runs),
        run_file("one", "vanilla", 1, layout.METRICS, runs), *others]
    job = lambda experiment, name: lookups.job_seeds(SimpleNamespace(experiment=experiment, job=name))  # noqa: E731
    assert (job("ens", "ensemble-seed2-3"), job("ens", "seed4"), job("one", "seed7")) == ([2, 3], [4], [7])
    with pytest.raises(ValueError, match=r"ens trains its seeds as \['ensemble-seed0-1', .*'seed4'\], not seed2"):
        job("ens", "seed2")
    with pytest.raises(ValueError, match=r"one trains its seeds as \['seed\{n\}, one seed a job'\], not ensemble-s"):
        job("one", "ensemble-seed0-1")
    partial = Lookups({"results": "results/x", "partial": True, "experiments": experiments})
    assert partial.trained(files[:2]) == files[:1]

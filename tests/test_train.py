"""Real training for a few steps: determinism, exact resume after SIGKILL, NaN handling, paired val."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from unrolled import checkpoint
from unrolled.cli import main as cli_main
from unrolled.config import TrainConfig
from unrolled.data.batches import TokenBatches
from unrolled.train import CHECKPOINT, HISTORY, METRICS, NonFiniteLossError, learning_rate, train

# Everything but timings and the resume marker must agree between runs.
VOLATILE = {"wall_seconds", "first_step_seconds", "tokens_per_second", "resumed_from_step", "environment", "git_sha"}


def _run(data, **train_overrides):
    return {
        "data": str(data),
        "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "dropout": 0.1},
        "train": {"batch_size": 4, "max_iters": 12, "eval_interval": 4, "eval_iters": 3, "warmup_iters": 2,
                  "log_interval": 1, "checkpoint_interval": 4, **train_overrides},
    }


def _stable(metrics):
    return {k: v for k, v in metrics.items() if k not in VOLATILE}


def test_same_seed_same_metrics_different_seed_differs(tiny_text_data, tmp_path):
    a = train(_run(tiny_text_data), [0], tmp_path / "a", progress=False)[0]
    b = train(_run(tiny_text_data), [0], tmp_path / "b", progress=False)[0]
    c = train(_run(tiny_text_data), [1], tmp_path / "c", progress=False)[0]
    assert _stable(a) == _stable(b)
    history = [(tmp_path / run / "seed0" / "history.csv").read_text() for run in ("a", "b")]
    assert history[0] == history[1]
    assert a["best_val_loss"] != c["best_val_loss"]


def test_metrics_and_history_contract(tiny_text_data, tmp_path):
    m = train(_run(tiny_text_data), [3], tmp_path / "r", progress=False)[0]
    for key in ("best_val_loss", "final_val_loss", "steps", "tokens", "wall_seconds", "tokens_per_second",
                "git_sha", "config_hash", "environment"):
        assert m[key] is not None, key
    assert m["steps"] == 12 and m["tokens"] == 12 * 4 * 16
    assert 0 < m["first_step_seconds"] < m["wall_seconds"]  # the fixed cost a slice estimate learns from
    assert m["environment"]["device"] == "cpu" and m["environment"]["torch"] == torch.__version__
    rows = list(csv.DictReader(open(tmp_path / "r" / "seed3" / "history.csv")))
    assert [int(r["step"]) for r in rows] == [4, 8, 12]
    assert m["best_val_loss"] == min(float(r["val_loss"]) for r in rows)
    assert json.loads((tmp_path / "r" / "seed3" / METRICS).read_text()) == json.loads(json.dumps(m))


def test_val_batches_do_not_depend_on_run_seed(tiny_text_data):
    a = TokenBatches(tiny_text_data, 16, 4, seed=0).val_batches(3, val_seed=1337)
    b = TokenBatches(tiny_text_data, 16, 4, seed=99).val_batches(3, val_seed=1337)
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))
    ta, tb = TokenBatches(tiny_text_data, 16, 4, seed=0), TokenBatches(tiny_text_data, 16, 4, seed=99)
    assert not torch.equal(ta.next_train()[0], tb.next_train()[0])


def test_grad_accumulation_matches_the_full_batch(tiny_text_data, tmp_path):
    base = {"max_iters": 1, "eval_interval": 1, "warmup_iters": 0, "grad_clip": 0.0}
    run_full = _run(tiny_text_data, batch_size=8, **base)
    run_accum = _run(tiny_text_data, batch_size=4, grad_accum=2, **base)
    for run in (run_full, run_accum):
        run["model"]["dropout"] = 0.0
    train(run_full, [0], tmp_path / "full", progress=False)
    train(run_accum, [0], tmp_path / "accum", progress=False)
    full = checkpoint.load(tmp_path / "full" / "seed0" / CHECKPOINT)["model"]
    accum = checkpoint.load(tmp_path / "accum" / "seed0" / CHECKPOINT)["model"]
    for name in full:
        torch.testing.assert_close(full[name], accum[name], atol=1e-6, rtol=1e-5)


def test_lr_schedule():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_iters=10, max_iters=110)
    assert learning_rate(0, cfg) == pytest.approx(1e-3 / 11)
    assert learning_rate(10, cfg) == pytest.approx(1e-3)
    assert learning_rate(60, cfg) == pytest.approx((1e-3 + 1e-4) / 2)
    assert learning_rate(110, cfg) == pytest.approx(1e-4)
    assert learning_rate(500, TrainConfig(lr_schedule="constant", warmup_iters=10)) == 1e-3


def test_unknown_keys_are_named(tiny_text_data, tmp_path):
    with pytest.raises(ValueError, match=r"train: unknown key\(s\) \['lr_max'\]"):
        train(_run(tiny_text_data, lr_max=1.0), [0], tmp_path / "x", progress=False)
    bad = _run(tiny_text_data)
    bad["model"]["n_layers"] = 3
    with pytest.raises(ValueError, match=r"model: unknown key\(s\) \['n_layers'\]"):
        train(bad, [0], tmp_path / "y", progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_text_data, tmp_path, monkeypatch):
    from unrolled.models import Transformer

    real_forward = Transformer.forward
    calls = {"n": 0}

    def forward(self, x, targets=None):
        logits, loss = real_forward(self, x, targets)
        if self.training:
            calls["n"] += 1
            if calls["n"] > 6:  # steps 1-6 are fine; the checkpoint at step 4 is the last good one
                loss = loss * float("nan")
        return logits, loss

    monkeypatch.setattr(Transformer, "forward", forward)
    out = tmp_path / "nan" / "seed0"
    with pytest.raises(NonFiniteLossError, match=r"training loss became nan at or before step 7.*ckpt.pt"):
        train(_run(tiny_text_data), [0], out.parent, progress=False)
    assert not (out / METRICS).exists()  # metrics.json marks a finished run
    # history.csv is rewritten at every evaluation, so it holds the evaluations before the NaN.
    assert [int(r["step"]) for r in csv.DictReader(open(out / "history.csv"))] == [4]
    assert checkpoint.load(out / CHECKPOINT)["step"] == 4


def test_checkpoint_from_another_config_is_refused(tiny_text_data, tmp_path):
    train(_run(tiny_text_data, max_iters=4), [0], tmp_path / "r", progress=False)
    (tmp_path / "r" / "seed0" / METRICS).unlink()
    with pytest.raises(Exception, match="different config or seed"):
        train(_run(tiny_text_data, max_iters=4, lr=3e-3), [0], tmp_path / "r", progress=False)


def test_checkpoint_from_a_rebuilt_data_set_is_refused(tmp_path):
    """Same run config, same seed, but the data set was rebuilt with other options (here the ICL noise):
    resuming would silently report the old data's model, so it is refused."""
    from unrolled.data.prepare import prepare

    spec = {"builder": "linear_regression", "sources": {}, "n_dims": 2, "n_points": 4, "noise_std": 0.1,
            "eval_prompts": 8, "split_seed": 0}
    prepare("icl", spec, {}, tmp_path / "data")
    run = {"data": str(tmp_path / "data"), "model": {"n_layer": 1, "n_head": 1, "n_embd": 8},
           "train": {"batch_size": 4, "max_iters": 2, "eval_interval": 2, "eval_iters": None}}
    train(run, [0], tmp_path / "r", progress=False)
    (tmp_path / "r" / "seed0" / METRICS).unlink()
    shutil.rmtree(tmp_path / "data")
    prepare("icl", spec | {"noise_std": 0.5}, {}, tmp_path / "data")
    with pytest.raises(Exception, match="different config or seed"):
        train(run, [0], tmp_path / "r", progress=False)


def _interrupt_then_resume(run, tmp_path, signum, when: str, extra=()) -> str:
    """Train `run` (seed 5) in a real process, send it `signum` once its run folder holds `when`, then rerun
    the same command: the resumed run must end bit for bit where an uninterrupted one ends. Returns the
    interrupted process's stderr."""
    config = tmp_path / "run.json"
    config.write_text(json.dumps(run))
    reference = train(run, [5], tmp_path / "reference", progress=False)[0]
    out = tmp_path / "interrupted" / "seed5"
    cmd = [sys.executable, "-m", "unrolled", "train", "--config", str(config), "--seeds", "5", "--out",
           str(out.parent), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / when).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == (-signum if signum == signal.SIGKILL else 2), "training finished before the signal"
    stopped_at = checkpoint.load(out / CHECKPOINT)["step"]
    assert 0 < stopped_at < run["train"]["max_iters"] and not (out / METRICS).exists()

    subprocess.run(cmd, check=True, capture_output=True)
    resumed = json.loads((out / METRICS).read_text())
    assert resumed["resumed_from_step"] == stopped_at
    assert _stable(resumed) == _stable(json.loads(json.dumps(reference)))
    assert (out / "history.csv").read_text() == (tmp_path / "reference" / "seed5" / "history.csv").read_text()
    return stderr


def test_sigkill_then_resume_is_bit_exact(tiny_text_data, tmp_path):
    """Kill a real training process after its first checkpoint; the rerun must end bit for bit equal."""
    run = _run(tiny_text_data, max_iters=400, eval_interval=50, log_interval=10)
    run["model"].update(n_layer=2, n_embd=48)
    _interrupt_then_resume(run, tmp_path, signal.SIGKILL, CHECKPOINT, ["--no-progress"])


def test_vit_trains_and_reports_accuracy(tiny_image_data, tmp_path):
    run = {"data": str(tiny_image_data),
           "model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "patch_size": 4},
           "train": {"batch_size": 16, "max_iters": 30, "eval_interval": 10, "eval_iters": None, "lr": 3e-3,
                     "warmup_iters": 0, "lr_schedule": "constant"}}
    m = train(run, [0], tmp_path / "vit", progress=False)[0]
    assert m["task"] == "vit" and m["best_val_acc"] > 0.9  # brightness separates the two classes


def test_cli_train_and_clear_errors(tiny_text_data, tmp_path, capsys):
    run = json.dumps(_run(tiny_text_data, max_iters=4))
    assert cli_main(["train", "--config", run, "--seeds", "0", "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    assert (tmp_path / "r" / "seed0" / METRICS).exists()
    bad = json.dumps({"data": str(tmp_path / "nowhere")})
    assert cli_main(["train", "--config", bad, "--seeds", "0", "--out", str(tmp_path / "s")]) == 2
    assert "nowhere/meta.json: not a prepared data set" in capsys.readouterr().err


@pytest.mark.parametrize("model, train_, line", [
    ({"n_layer": "six"}, {}, "unrolled train: error: model.n_layer: 'six' is not an integer >= 1"),
    ({}, {"lr": -1e-3}, "unrolled train: error: train.lr: -0.001 is not a number > 0"),
    ({"identity": "minus"}, {}, "unrolled train: error: model.identity: 'minus' is not one of 'none', "
                                "'subtract', 'learned', 'exclusive'"),
])
def test_cli_checks_its_config_as_the_schema_does_in_one_line(tiny_text_data, tmp_path, capsys, model, train_, line):
    """By hand, as through Snakemake: the key, the value and what the schema accepts; nothing trains."""
    run = _run(tiny_text_data)
    run["model"] |= model
    run["train"] |= train_
    assert cli_main(["train", "--config", json.dumps(run), "--seeds", "0", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.splitlines() == [line]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_an_unreadable_checkpoint_is_one_line_naming_it_and_the_way_out(tiny_text_data, tmp_path, capsys, damage):
    run = json.dumps(_run(tiny_text_data, max_iters=4))
    out = tmp_path / "r"
    assert cli_main(["train", "--config", run, "--seeds", "0", "--out", str(out), "--no-progress"]) == 0
    ckpt = out / "seed0" / CHECKPOINT
    ckpt.write_bytes(ckpt.read_bytes()[:3000] if damage == "truncated" else b"")
    capsys.readouterr()
    assert cli_main(["train", "--config", run, "--seeds", "0", "--out", str(out), "--no-progress"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"unrolled train: error: {ckpt}: unreadable checkpoint (")
    assert line.endswith("Delete it to start over: the run then trains from step 0.")
    ckpt.unlink()  # the way out works
    assert cli_main(["train", "--config", run, "--seeds", "0", "--out", str(out), "--no-progress"]) == 0


def test_compile_cache_is_set_before_training_starts(tiny_text_data, tmp_path, monkeypatch):
    """`--compile-cache DIR` points torch.compile's inductor (and its Triton kernels) at DIR for the whole
    job, ranks included (they inherit the environment). The time it saves: benchmarks/compile_cache.py."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir, triton_cache_dir

    from unrolled import train as train_module

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    seen = []
    monkeypatch.setattr(train_module, "train", lambda *a, **k: seen.append((cache_dir(), triton_cache_dir(0))) or
                        [{"seed": 0, "best_val_loss": 1.0, "best_step": 1}])
    monkeypatch.chdir(tmp_path)
    assert cli_main(["train", "--config", json.dumps({"data": str(tiny_text_data)}), "--seeds", "0",
                     "--out", "run", "--compile-cache", "shared/cache"]) == 0
    shared = str(tmp_path / "shared" / "cache")
    assert seen == [(shared, os.path.join(shared, "triton", "0"))]


def test_epochs_and_decay_all_in_training(tiny_image_data, tmp_path):
    """epochs / eval_epochs count the train split (180 images, batch 16: 11 steps an epoch, the last partial
    batch dropped); decay: all reaches the optimizer. Both are recorded in metrics.json."""
    from unrolled.atomic import load_meta
    from unrolled.config import model_config
    from unrolled.train import Trainer

    run = {"data": str(tiny_image_data), "model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "patch_size": 4},
           "train": {"batch_size": 16, "epochs": 2, "eval_epochs": 1, "decay": "all", "weight_decay": 0.01,
                     "lr_schedule": "constant", "warmup_iters": 0}}
    meta = load_meta(tiny_image_data)
    assert meta["counts"]["train"] == 180
    _, tcfg = model_config(run, meta)
    assert (tcfg.max_iters, tcfg.eval_interval) == (22, 11)
    m = train(run, [0], tmp_path / "vit", progress=False)[0]
    assert m["steps"] == 22 and m["config"]["train"]["decay"] == "all"
    assert [int(r["step"]) for r in csv.DictReader(open(tmp_path / "vit" / "seed0" / "history.csv"))] == [11, 22]
    trainer = Trainer(run, [0], tmp_path / "x", progress=False)
    from unrolled.distributed import Placement
    trainer.build(Placement("cpu"))
    assert [g["weight_decay"] for g in trainer.optimizer.param_groups] == [0.01]
    with pytest.raises(ValueError, match="set epochs or max_iters, not both"):
        model_config({**run, "train": {**run["train"], "max_iters": 5}}, meta)
    with pytest.raises(ValueError, match="only image data sets count in epochs"):
        model_config({"train": {"epochs": 1}}, {"vocab_size": 10})


def test_sigterm_checkpoints_and_the_rerun_resumes_bit_exact(tiny_text_data, tmp_path):
    """A slice's time limit (or a preemption) sends SIGTERM: training saves a checkpoint at the next step
    boundary and stops with a one-line error; the rerun resumes there and ends bit for bit where an
    uninterrupted run ends."""
    run = _run(tiny_text_data, max_iters=400, eval_interval=50, log_interval=10, checkpoint_interval=None,
               checkpoint_minutes=None)  # no periodic checkpoint: only SIGTERM can have written one
    run["model"].update(n_layer=2, n_embd=48)
    stderr = _interrupt_then_resume(run, tmp_path, signal.SIGTERM, "progress.json")
    assert "stopped by SIGTERM at step" in stderr and "a rerun resumes" in stderr


def test_checkpoint_minutes_timer(tiny_text_data, tmp_path, monkeypatch):
    """A checkpoint once `checkpoint_minutes` have passed since the last (a clock that advances a minute per
    step: every 2nd step at 2 minutes), and always at the end; none from the timer when it is off."""
    from unrolled import train as train_module

    minutes = iter(range(10_000))
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: 60.0 * next(minutes))
    saved = []
    monkeypatch.setattr(checkpoint, "save", lambda path, state: saved.append(state["step"]))
    run = _run(tiny_text_data, max_iters=8, checkpoint_interval=None, checkpoint_minutes=2, eval_interval=8,
               log_interval=100)
    train(run, [0], tmp_path / "timed", progress=False)
    # The loop reads the clock once a step (and once more after its first step, the compile's time), so 2
    # minutes pass at steps 1, 3, 5 and 7; the end always saves. A timer counting seconds would save every step.
    assert saved == [1, 3, 5, 7, 8]
    assert all(b > a for a, b in zip(saved, saved[1:]))
    saved.clear()
    train({**run, "train": {**run["train"], "checkpoint_minutes": None}}, [0], tmp_path / "untimed", progress=False)
    assert saved == [8]


@pytest.mark.slow
def test_compiled_training_matches_eager(tiny_text_data, tmp_path):
    """torch.compile (the paper-scale configs' path) for a few steps on the CPU: the same losses as eager
    within a small tolerance (the fused kernels round differently)."""
    run = _run(tiny_text_data, max_iters=6, eval_interval=3)
    run["model"]["dropout"] = 0.0  # compiled and eager dropout draw different masks
    eager = train(run, [0], tmp_path / "eager", progress=False)[0]
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    compiled = train({**run, "train": {**run["train"], "compile": True}}, [0], tmp_path / "compiled", progress=False)[0]
    assert compiled["config"]["train"]["compile"] and compiled["steps"] == eager["steps"] == 6
    assert counters["stats"]["unique_graphs"] >= 1  # dynamo compiled the model: the config alone proves nothing
    for key in ("best_val_loss", "final_val_loss"):
        assert compiled[key] == pytest.approx(eager[key], abs=1e-4)


@pytest.mark.slow
def test_compiled_clip_and_adamw_match_eager_without_recompiling(tiny_text_data, tmp_path):
    """train.compile_optimizer: clipping and AdamW as one compiled function, the learning rate a tensor the
    schedule fills in place. The same losses as the eager step (fp32, a few rounding steps apart), no
    recompilation as the learning rate changes every step (warmup then cosine), and a job stopped by SIGTERM
    resumes bit for bit (the tensor learning rate and the compiled step's state are in the checkpoint)."""
    run = _run(tiny_text_data, max_iters=12, eval_interval=4, grad_clip=0.05)  # clipping acts at every step
    eager = train(run, [0], tmp_path / "eager", progress=False)[0]
    compiled_run = {**run, "train": {**run["train"], "compile_optimizer": True}}
    torch._dynamo.reset()  # an earlier test's compiled update (the same code, another optimizer) is not a recompile
    with torch._dynamo.config.patch(error_on_recompile=True):
        compiled = train(compiled_run, [0], tmp_path / "compiled", progress=False)[0]
    assert compiled["config"]["train"]["compile_optimizer"] and compiled["steps"] == 12
    for key in ("best_val_loss", "final_val_loss"):
        assert compiled[key] == pytest.approx(eager[key], abs=1e-5)
    long_run = {**compiled_run, "train": {**compiled_run["train"], "max_iters": 300, "eval_interval": 50,
                                          "log_interval": 10}}
    (tmp_path / "resume").mkdir()
    _interrupt_then_resume(long_run, tmp_path / "resume", signal.SIGTERM, CHECKPOINT, ["--no-progress"])


def test_a_group_of_one_keeps_a_single_runs_checkpoint_so_existing_runs_resume(tiny_text_data, tmp_path):
    """A single seed is a group of one: its checkpoint is where single runs always kept theirs (the run
    folder), under the hash single runs always had (the finished run config, seed, data), so a run folder made
    before every job became a group resumes; a larger group's checkpoint has its own folder and hash."""
    from unrolled.atomic import load_meta
    from unrolled.config import finish
    from unrolled.provenance import config_hash

    run = _run(tiny_text_data, max_iters=8, checkpoint_interval=4)
    train(run, [2], tmp_path / "arm", progress=False)
    state = checkpoint.load(tmp_path / "arm" / "seed2" / CHECKPOINT)
    meta = load_meta(tiny_text_data)
    assert state["config_hash"] == config_hash({"run": finish(run, meta), "seed": 2, "data": meta})
    assert state["seeds"] == [2] and not list((tmp_path / "arm").glob("ensemble-*"))
    # A folder of a killed job: a checkpoint, no metrics.json. The group of one resumes from it, at step 4,
    # and ends where the uninterrupted run ended.
    killed = tmp_path / "killed" / "seed2"
    killed.mkdir(parents=True)
    real_save = checkpoint.save

    def save(path, state):  # keep a copy of the step-4 checkpoint, as a killed job would have left it
        real_save(path, state)
        if state["step"] == 4:
            shutil.copy(path, killed / CHECKPOINT)

    try:
        checkpoint.save = save
        whole = json.loads(json.dumps(train(run, [2], tmp_path / "whole", progress=False)[0]))
    finally:
        checkpoint.save = real_save
    resumed = train(run, [2], tmp_path / "killed", progress=False)[0]
    assert resumed["resumed_from_step"] == 4
    assert ({k: v for k, v in resumed.items() if k not in VOLATILE}
            == {k: v for k, v in whole.items() if k not in VOLATILE})


def test_the_run_config_is_finished_once_and_trained_as_it_is(tiny_text_data, tmp_path, monkeypatch):
    """`run-config` (the workflow's run_config rule) writes the arm's finished run.yaml: a tuned choice filled in,
    what the data set fixes and every default. The trainer trains that file as it is, finishing and checking
    nothing again: a value changed in the file is the value trained."""
    from unrolled import config

    choice = tmp_path / "choice.json"
    choice.write_text(json.dumps({"experiment": "sweep", "arm": "d3", "key": "dropout", "value": 0.3}))
    out = tmp_path / "arm" / "run.yaml"
    run = json.dumps(_run(tiny_text_data, max_iters=2, eval_interval=2))
    assert cli_main(["-q", "run-config", "--config", run, "--tuned", str(choice), "--out", str(out)]) == 0
    finished = yaml.safe_load(out.read_text())
    assert finished["model"]["dropout"] == 0.3 and finished["tuned"]["arm"] == "d3"
    assert finished["model"]["vocab_size"] == json.loads((tiny_text_data / "meta.json").read_text())["vocab_size"]
    assert finished["train"]["lr_decay_iters"] is None and config.is_finished(finished)
    finished["train"]["max_iters"] = 3
    out.write_text(yaml.safe_dump(finished))
    monkeypatch.setattr(config, "finish", lambda *a, **k: pytest.fail("a finished run config was finished again"))
    assert cli_main(["-q", "train", "--config", str(out), "--seeds", "0", "--out", str(out.parent),
                     "--no-progress"]) == 0
    metrics = json.loads((out.parent / "seed0" / METRICS).read_text())
    assert metrics["config"]["model"]["dropout"] == 0.3 and metrics["tuned"]["arm"] == "d3"
    assert metrics["config"]["train"]["max_iters"] == 3
    assert [row["step"] for row in csv.DictReader((out.parent / "seed0" / HISTORY).open())][-1] == "3"
    assert cli_main(["-q", "run-config", "--config", run, "--tuned", str(tmp_path / "none.json"), "--out",
                     str(tmp_path / "other.yaml")]) == 2
    assert not (tmp_path / "other.yaml").exists()


def test_max_autotune_compiles_with_coordinate_descent(tiny_text_data, tmp_path, monkeypatch):
    """train.compile_mode max-autotune-no-cudagraphs: torch.compile in that mode, with Inductor's coordinate
    descent over kernel launch parameters on; the default mode leaves it as torch has it."""
    import torch._inductor.config as inductor

    from unrolled.distributed import Placement
    from unrolled.train import Trainer

    seen = []
    monkeypatch.setattr(torch, "compile",
                        lambda model, mode=None: seen.append((mode, inductor.coordinate_descent_tuning)) or model)
    with inductor.patch(coordinate_descent_tuning=False):  # Inductor's own patch: restored on exit
        for mode in ("default", "max-autotune-no-cudagraphs"):
            run = _run(tiny_text_data, compile=True, compile_mode=mode)
            Trainer(run, [0], tmp_path / mode, progress=False).build(Placement("cpu"))
    assert seen == [("default", False), ("max-autotune-no-cudagraphs", True)]

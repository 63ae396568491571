"""Seed ensembles: member k of an ensemble is the single run with seed k, and members never mix."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from unrolled import checkpoint, distributed
from unrolled.data.batches import TokenBatches
from unrolled.layout import job_dir
from unrolled.models import Ensemble, ModelConfig, Transformer
from unrolled.train import CHECKPOINT, METRICS, Trainer, train

VOLATILE = {"wall_seconds", "first_step_seconds", "tokens_per_second", "resumed_from_step", "environment", "git_sha"}


def _run(data, dropout=0.0, **train_overrides):
    return {
        "data": str(data),
        "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "dropout": dropout},
        "train": {"batch_size": 4, "max_iters": 20, "eval_interval": 1, "eval_iters": 2, "warmup_iters": 2,
                  "log_interval": 1, "lr": 3e-3, "dtype": "float32", **train_overrides},
    }


def _history(run_dir):
    return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(open(run_dir / "history.csv"))]


def _close(a, b, tol=1e-4):
    return len(a) == len(b) and all(abs(r[k] - s[k]) <= tol for r, s in zip(a, b) for k in ("train_loss", "val_loss"))


def test_member_k_starts_from_and_draws_what_seed_k_does(tiny_text_data, tmp_path):
    seeds = [0, 3, 7]
    trainer = Trainer(_run(tiny_text_data), seeds, tmp_path, False)
    trainer.build(distributed.Placement("cpu"))
    cfg = trainer.mcfg
    x, y = trainer.batches.next_train()
    assert x.shape == (3, 4, 16)
    for k, seed in enumerate(seeds):
        torch.manual_seed(seed)
        single = Transformer(cfg).state_dict()
        member = trainer.model.member_state_dict(k)
        assert member.keys() == single.keys()
        assert all(torch.equal(member[n], single[n]) for n in single), f"member {k} != seed {seed}'s init"
        sx, sy = TokenBatches(tiny_text_data, 16, 4, seed).next_train()
        assert torch.equal(x[k], sx) and torch.equal(y[k], sy)


def test_members_match_single_runs_for_20_steps(tiny_text_data, tmp_path):
    """fp32, dropout 0: every member's train and val loss at each of 20 steps equal its single run's."""
    run = _run(tiny_text_data)
    runs = train(run, [0, 1, 2], tmp_path / "ens", progress=False)
    assert [m["seed"] for m in runs] == [0, 1, 2] and all(m["ensemble"]["size"] == 3 for m in runs)
    for seed in (0, 1, 2):
        (single,) = train(run, [seed], tmp_path / "single", progress=False)
        member = json.loads((tmp_path / "ens" / f"seed{seed}" / METRICS).read_text())
        h_single, h_member = _history(tmp_path / "single" / f"seed{seed}"), _history(tmp_path / "ens" / f"seed{seed}")
        assert len(h_member) == 20 and _close(h_member, h_single), seed
        # Same files and keys (the ensemble adds only its `ensemble` record). The run's hash names its group:
        # with dropout a member's masks depend on it.
        assert set(member) - {"ensemble"} == set(single)
        assert member["config_hash"] != single["config_hash"] and member["steps"] == single["steps"] == 20
        assert member["tokens"] == single["tokens"]
    folder = Path(job_dir(tmp_path / "ens", [0, 1, 2]))
    assert not (folder / CHECKPOINT).exists()  # its members' weights are per seed
    assert json.loads((folder / METRICS).read_text()) == {"seeds": [0, 1, 2]}  # the job's record, the rule's output
    assert sorted(p.name for p in (tmp_path / "single").iterdir()) == ["seed0", "seed1", "seed2"]  # none for one


def test_member_weights_are_saved_where_a_single_run_keeps_them(tiny_text_data, tmp_path):
    from unrolled.checkpoint import load_model

    run = _run(tiny_text_data, max_iters=6)
    train(run, [4, 5], tmp_path / "ens", progress=False)
    train(run, [5], tmp_path / "single", progress=False)
    member, single = load_model(tmp_path / "ens" / "seed5"), load_model(tmp_path / "single" / "seed5")
    x = torch.randint(0, member.cfg.vocab_size, (2, 16))
    torch.testing.assert_close(member(x)[0], single(x)[0], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dropout, changed", [(0.0, 0), (0.1, 2)])
def test_members_are_independent(tiny_text_data, tmp_path, dropout, changed):
    """Changing one member's seed (so its init and data) changes nothing for the others.

    With dropout every member's masks come from one generator seeded by the job's first seed, so there
    the changed member is not the first.
    """
    run = _run(tiny_text_data, dropout=dropout)
    a_seeds = [0, 1, 2]
    b_seeds = [9 if k == changed else s for k, s in enumerate(a_seeds)]
    a = train(run, a_seeds, tmp_path / "a", progress=False)
    b = train(run, b_seeds, tmp_path / "b", progress=False)
    for k, seed in enumerate(a_seeds):
        if k != changed:
            assert _history(tmp_path / "a" / f"seed{seed}") == _history(tmp_path / "b" / f"seed{seed}"), seed
    assert abs(a[changed]["final_val_loss"] - b[changed]["final_val_loss"]) > 1e-3


@pytest.mark.parametrize("identity", ["none", "learned"])  # learned: a scalar parameter, stacked to shape (E,)
def test_clipping_is_per_member(identity):
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=11, identity=identity)
    members = [Transformer(cfg) for _ in range(3)]
    ens = Ensemble(members)
    scales = torch.tensor([1e4, 1e-3, 1.0])  # member 0's gradient is huge, member 1's tiny
    for p in ens.parameters():
        p.grad = torch.randn_like(p) * scales.view(-1, *[1] * (p.dim() - 1))
    before = [p.grad.clone() for p in ens.parameters()]
    # The reference: torch's clipping of each member on its own.
    expected = []
    for k, m in enumerate(members):
        for p, g in zip(m.parameters(), before):
            p.grad = g[k].clone()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        expected.append([p.grad for p in m.parameters()])
    norms = ens.clip_grad_norm_(1.0)
    assert norms[0] > 1e3 and norms[1] < 1.0
    for i, p in enumerate(ens.parameters()):
        for k in range(3):
            torch.testing.assert_close(p.grad[k], expected[k][i], rtol=1e-5, atol=1e-7)
        assert torch.equal(p.grad[1], before[i][1])  # the small member is untouched by the huge one


def test_ensemble_sigkill_then_resume_is_bit_exact(tiny_text_data, tmp_path):
    run = _run(tiny_text_data, dropout=0.1, max_iters=300, eval_interval=50, log_interval=10, checkpoint_interval=5)
    run["model"].update(n_embd=48)
    config = tmp_path / "run.json"
    config.write_text(json.dumps(run))
    seeds = ["3", "4"]
    reference = tmp_path / "reference"
    subprocess.run([sys.executable, "-m", "unrolled", "train", "--config", str(config), "--seeds", *seeds,
                    "--out", str(reference)], check=True, capture_output=True)

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "unrolled", "train", "--config", str(config), "--seeds", *seeds, "--out", str(out)]
    ckpt = Path(job_dir(out, [3, 4])) / CHECKPOINT
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    killed_at = checkpoint.load(ckpt)["step"]
    assert 0 < killed_at < 300 and not (out / "seed3" / METRICS).exists()

    subprocess.run(cmd, check=True, capture_output=True)
    for seed in seeds:
        resumed = json.loads((out / f"seed{seed}" / METRICS).read_text())
        expected = json.loads((reference / f"seed{seed}" / METRICS).read_text())
        assert resumed["resumed_from_step"] == killed_at
        assert {k: v for k, v in resumed.items() if k not in VOLATILE | {"ensemble"}} == \
            {k: v for k, v in expected.items() if k not in VOLATILE | {"ensemble"}}
        assert (out / f"seed{seed}" / "history.csv").read_text() == \
            (reference / f"seed{seed}" / "history.csv").read_text()
        assert torch.equal(checkpoint.load(out / f"seed{seed}" / CHECKPOINT)["model"]["tok_emb.weight"],
                           checkpoint.load(reference / f"seed{seed}" / CHECKPOINT)["model"]["tok_emb.weight"])


def test_resume_refuses_an_ensemble_checkpoint_of_other_seeds(tiny_text_data, tmp_path):
    run = _run(tiny_text_data, max_iters=4)
    ckpt = Path(job_dir(tmp_path, [0, 1])) / CHECKPOINT
    ckpt.parent.mkdir(parents=True)
    trainer = Trainer(run, [0, 2], tmp_path / "other", False)
    trainer.build(distributed.Placement("cpu"))
    trainer.save(0.0)
    trainer.ckpt_path.rename(ckpt)
    with pytest.raises(Exception, match=r"ensemble-seed0-1/ckpt.pt: made with a different config or seed"):
        train(run, [0, 1], tmp_path, progress=False)


def test_an_ensemble_writes_no_final_checkpoint_only_to_delete_it(tiny_text_data, tmp_path, monkeypatch):
    """Its periodic checkpoints, yes; at the last step each member's final weights go to its own folder,
    with no full-ensemble checkpoint written first (at E = 32 on a GPU, gigabytes for nothing)."""
    saved = []
    real_save = checkpoint.save
    monkeypatch.setattr(checkpoint, "save", lambda path, state: (saved.append((path, state["step"])),
                                                                  real_save(path, state))[1])
    train(_run(tiny_text_data, max_iters=10, checkpoint_interval=5), [0, 1], tmp_path / "arm",
                   progress=False)
    ensemble = Path(job_dir(tmp_path / "arm", [0, 1])) / CHECKPOINT
    assert [step for path, step in saved if path == ensemble] == [5]
    assert sorted((p.parent.name, step) for p, step in saved if p != ensemble) == [("seed0", 10), ("seed1", 10)]
    assert not ensemble.exists()


@pytest.mark.slow
def test_compiled_per_member_clipping_and_adamw_match_single_eager_runs(tiny_text_data, tmp_path):
    """train.compile_optimizer on an ensemble: the compiled per-member clipping and AdamW give each member
    its eager single run's losses (clipping acting at every step: a member's norm must stay its own)."""
    run = _run(tiny_text_data, max_iters=8, grad_clip=0.05)
    train({**run, "train": {**run["train"], "compile_optimizer": True}}, [0, 1], tmp_path / "ens", progress=False)
    for seed in (0, 1):
        train(run, [seed], tmp_path / "single", progress=False)
        assert _close(_history(tmp_path / "ens" / f"seed{seed}"), _history(tmp_path / "single" / f"seed{seed}"), 1e-5)

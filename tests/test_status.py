"""`python -m unrolled status`: the state of every run, from its folder alone, and the progress file
a real training run writes while it trains."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO

from unrolled import layout
from unrolled.status import STALE_SECONDS, report, run_status
from unrolled.train import Trainer, train

EXPERIMENTS = {"lm": {"arms": {"vanilla": {}, "a_minus_i": {}}, "seeds": 3}}
NOW = 1_800_000_000.0


def _progress(step, updated):
    return {"step": step, "max_iters": 600, "train_loss": 2.5, "last_val_loss": 2.4321, "items_per_second": 12345.0,
            "unit": "tok/s",
            "elapsed_seconds": 60.0, "eta_seconds": 125.0, "updated": updated}


def _runs(root: Path, now: float = NOW) -> None:
    """vanilla: done, running, not started; a_minus_i: stale progress, checkpoint and history, not started."""
    folder = lambda arm, seed: Path(layout.run_dir("lm", arm, seed, root))  # noqa: E731
    for arm, seed in (("vanilla", 0), ("vanilla", 1), ("a_minus_i", 0), ("a_minus_i", 1)):
        folder(arm, seed).mkdir(parents=True)
    (folder("vanilla", 0) / layout.METRICS).write_text(json.dumps(
        {"best_val_loss": 2.1234, "best_step": 550, "wall_seconds": 300.0}))
    (folder("vanilla", 1) / layout.PROGRESS).write_text(json.dumps(_progress(340, now - 5)))
    (folder("a_minus_i", 0) / layout.PROGRESS).write_text(json.dumps(_progress(120, now - STALE_SECONDS - 60)))
    (folder("a_minus_i", 1) / layout.HISTORY).write_text("step,train_loss,val_loss,val_acc,lr\n50,3,2.9,,0.001\n")
    (folder("a_minus_i", 1) / layout.CHECKPOINT).write_bytes(b"")


def test_every_state_of_a_run(tmp_path):
    _runs(tmp_path)
    lines = report(EXPERIMENTS, None, tmp_path, now=NOW)
    assert lines[0] == "lm: 1 done, 1 running, 2 stopped, 2 not started (of 6)"
    assert lines[1] == "  vanilla/seed0    done         best val loss 2.1234 at step 550, 5m00s of training"
    assert lines[2] == ("  vanilla/seed1    running      step 340/600, last val 2.4321, eta 2m05s, 12,345 tok/s "
                        "(updated 0m05s ago)")
    assert lines[3] == "  vanilla/seed2    not started"
    assert lines[4].startswith("  a_minus_i/seed0  stopped      step 120/600, last val 2.4321, no progress for 16m")
    assert lines[5] == "  a_minus_i/seed1  stopped      at step 50; a rerun resumes it"
    assert lines[-1] == "all: 1 done, 1 running, 2 stopped, 2 not started (of 6 runs)"


def test_status_names_an_unknown_experiment(tmp_path):
    import pytest

    with pytest.raises(ValueError, match=r"no experiment \['lm_chr'\] in this config"):
        report(EXPERIMENTS, ["lm_chr"], tmp_path)


def test_a_training_run_writes_its_progress_and_removes_it_at_the_end(tiny_text_data, tmp_path, monkeypatch):
    seen = []
    record = Trainer.record

    def spy(self, lr, train_loss, evals):
        progress = self.run_dirs[0] / layout.PROGRESS
        seen.append((self.step, json.loads(progress.read_text()), run_status(self.run_dirs[0])))
        return record(self, lr, train_loss, evals)

    monkeypatch.setattr(Trainer, "record", spy)
    run = {"data": str(tiny_text_data), "model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16},
           "train": {"batch_size": 4, "max_iters": 12, "eval_interval": 6, "eval_iters": 2, "log_interval": 3}}
    train(run, [0], tmp_path / "run", progress=True)
    (step, first, status), (_, second, _) = seen
    assert step == 6 and first["step"] == 6 and first["max_iters"] == 12 and first["last_val_loss"] is None
    assert first["eta_seconds"] > 0 and first["items_per_second"] > 0 and first["unit"] == "tok/s"
    assert time.time() - first["updated"] < 60
    assert status["state"] == "running" and status["detail"].startswith("step 6/12")
    with open(tmp_path / "run" / "seed0" / layout.HISTORY, newline="") as handle:
        first_eval = next(csv.DictReader(handle))
    assert second["step"] == 12 and second["last_val_loss"] == float(first_eval["val_loss"])
    assert not (tmp_path / "run" / "seed0" / layout.PROGRESS).exists()
    assert run_status(tmp_path / "run" / "seed0")["state"] == "done"


def test_the_status_command_reads_the_config_and_the_runs(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    shutil.copytree(repo / "config", tmp_path / "config")
    (tmp_path / "mine.yaml").write_text("experiments:\n  lm:\n    dataset: shakespeare_char\n    metric: val_loss\n"
                                        "    baseline: vanilla\n    seeds: 3\n    arms: {vanilla: {}, a_minus_i: {}}\n")
    _runs(tmp_path / "results" / "runs", now=time.time())
    proc = subprocess.run([sys.executable, "-m", "unrolled", "status", "--configfile", "mine.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[0] == "lm: 1 done, 1 running, 2 stopped, 2 not started (of 6)"
    default = subprocess.run([sys.executable, "-m", "unrolled", "status", "lm_char"], cwd=tmp_path,
                             capture_output=True, text=True, check=True)
    assert default.stdout.startswith("lm_char: 18 not started (of 18)")


def test_progress_files_are_written_at_evaluations_and_otherwise_at_most_every_30_seconds(tmp_path):
    from unrolled.train import Progress

    progress = Progress([tmp_path], max_iters=100, start_step=0, items_per_step=8)
    progress.report(10, [2.0], [[]], evaluation=False)
    assert json.loads((tmp_path / layout.PROGRESS).read_text())["step"] == 10  # the first is written
    progress.report(20, [1.9], [[]], evaluation=False)
    assert json.loads((tmp_path / layout.PROGRESS).read_text())["step"] == 10  # 30 s have not passed
    progress.report(25, [1.8], [[{"val_loss": 1.7}]], evaluation=True)
    assert json.loads((tmp_path / layout.PROGRESS).read_text())["last_val_loss"] == 1.7
    progress.written -= Progress.WRITE_SECONDS
    progress.report(30, [1.7], [[{"val_loss": 1.7}]], evaluation=False)
    assert json.loads((tmp_path / layout.PROGRESS).read_text())["step"] == 30


def test_the_cli_takes_several_configfiles_as_snakemake_does(capsys):
    """`--configfile a.yaml b.yaml NAME`: b over a (smoke's 2 seeds a run over the default's 3), NAME the
    experiment whichever side of the files it is named."""
    import os

    from unrolled.cli import main

    here = os.getcwd()
    os.chdir(REPO)
    try:
        for argv in (["status", "lm_char", "--configfile", "config/config.yaml", "config/smoke.yaml"],
                     ["status", "--configfile", "config/config.yaml", "config/smoke.yaml", "lm_char"]):
            assert main(argv) == 0
            out = capsys.readouterr().out
            assert out.startswith("lm_char: ") and "(of 12)" in out  # 6 arms x 2 seeds
            assert "vit_fashion" not in out
        assert main(["status", "lm_char"]) == 0
        assert "(of 18)" in capsys.readouterr().out  # the default alone: 6 arms x 3 seeds
    finally:
        os.chdir(here)

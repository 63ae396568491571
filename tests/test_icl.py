"""In-context linear regression: the prompt generator's statistics, the baselines (least squares
reaches the noise floor), the regression model's causality, and a few real training steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from unrolled import icl
from unrolled.checkpoint import load_model
from unrolled.data.prepare import prepare
from unrolled.data.regression import RegressionBatches, load_prompts, sample
from unrolled.models import ModelConfig, Transformer
from unrolled.train import train


def test_dense_prompts_have_the_stated_distribution():
    p = sample(20_000, 5, 6, None, 0.5, torch.Generator().manual_seed(0))
    xs, ys, ws = p["xs"], p["ys"], p["ws"]
    assert xs.shape == (20_000, 6, 5) and ys.shape == (20_000, 6) and ws.shape == (20_000, 5)
    cov = np.cov(xs.reshape(-1, 5).numpy(), rowvar=False)
    assert np.abs(cov - np.eye(5)).max() < 0.03 and abs(xs.mean().item()) < 0.01
    assert abs(ws.var().item() - 1) < 0.03 and abs(ws.mean().item()) < 0.02
    # y = w.x + noise: Var y = E|w|^2 + sigma^2 = 5.25, and the residual is the noise.
    assert abs(ys.var().item() - 5.25) / 5.25 < 0.03
    noise = ys - torch.einsum("npd,nd->np", xs, ws)
    assert abs(noise.std().item() - 0.5) < 0.01


def test_sparse_prompts_have_exactly_s_non_zero_coordinates():
    p = sample(5000, 8, 4, 2, 0.0, torch.Generator().manual_seed(1))
    assert ((p["ws"] != 0).sum(1) == 2).all()
    # every coordinate is in the support equally often (2/8 of prompts)
    assert np.abs((p["ws"] != 0).float().mean(0).numpy() - 0.25).max() < 0.03
    assert abs(p["ys"].var().item() - 2.0) / 2.0 < 0.05
    assert torch.allclose(p["ys"], torch.einsum("npd,nd->np", p["xs"], p["ws"]))


def test_sampling_is_a_function_of_the_seed():
    a = sample(4, 3, 5, 1, 0.1, torch.Generator().manual_seed(7))
    b = sample(4, 3, 5, 1, 0.1, torch.Generator().manual_seed(7))
    c = sample(4, 3, 5, 1, 0.1, torch.Generator().manual_seed(8))
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["xs"], c["xs"])


def test_least_squares_attains_the_noise_floor():
    d, sigma = 4, 0.5
    prompts = sample(400, d, 101, None, sigma, torch.Generator().manual_seed(2))
    meta = {"n_dims": d, "sparsity": None, "noise_std": sigma}
    errors = icl.baseline_errors(prompts, meta)
    floor = sigma ** 2 / d
    # With k >> d examples LS's excess error is floor * d / (k - d - 1): about 4% at k = 100.
    assert errors["least_squares"][100] == pytest.approx(floor, rel=0.15)
    assert errors["least_squares"][0] == pytest.approx(1 + floor, rel=0.15)  # predicting 0
    # The interpolation peak at k = d, and the Bayes-optimal ridge never does worse than LS on average.
    assert errors["least_squares"][d] > 3 * errors["least_squares"][3 * d]
    assert (errors["optimal"][1:30] <= errors["least_squares"][1:30] + 0.02).all()


def test_lasso_beats_least_squares_on_sparse_w_below_d_examples():
    prompts = sample(60, 8, 9, 1, 0.1, torch.Generator().manual_seed(3))
    errors = icl.baseline_errors(prompts, {"n_dims": 8, "sparsity": 1, "noise_std": 0.1}, lasso_alphas=(0.01, 0.1))
    assert errors["lasso"][6] < 0.5 * errors["least_squares"][6]
    assert (errors["optimal"][1:] <= errors["lasso"][1:] + 0.05).all()  # the oracle knows the support
    assert set(errors["lasso_alpha"][1:]) <= {0.01, 0.1}


def test_noise_free_optimal_is_least_squares():
    prompts = sample(50, 3, 6, None, 0.0, torch.Generator().manual_seed(4))
    errors = icl.baseline_errors(prompts, {"n_dims": 3, "sparsity": None, "noise_std": 0.0})
    assert np.allclose(errors["optimal"], errors["least_squares"])
    assert errors["least_squares"][4] < 1e-8  # k > d without noise: w is recovered exactly


@pytest.mark.parametrize("variant", [{}, {"attention": "mssa", "mlp": "none", "identity": "subtract"}])
def test_prediction_of_y_i_never_sees_y_i_or_later(variant):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(task="regression", n_dims=3, block_size=10, n_layer=2, n_head=2,
                                    n_embd=16, **variant)).eval()
    p = sample(2, 3, 5, None, 0.1, torch.Generator().manual_seed(5))
    pred, loss = model(p["xs"], p["ys"])
    assert pred.shape == (2, 5) and loss.item() == pytest.approx(((pred - p["ys"]) ** 2).mean().item(), rel=1e-5)
    changed = p["ys"].clone()
    changed[:, 2:] += 10.0  # y_2 and later
    pred2, _ = model(p["xs"], changed)
    assert torch.allclose(pred[:, :3], pred2[:, :3], atol=1e-5)  # predictions of y_0..y_2 unchanged
    assert not torch.allclose(pred[:, 3:], pred2[:, 3:])


def test_regression_needs_the_prompt_ys():
    model = Transformer(ModelConfig(task="regression", n_dims=2, block_size=4, n_layer=1, n_head=1, n_embd=8))
    with pytest.raises(ValueError, match="targets"):
        model(torch.zeros(1, 2, 2))


@pytest.fixture(scope="module")
def regression_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("icl") / "icl"
    spec = {"builder": "linear_regression", "sources": {}, "n_dims": 2, "n_points": 6, "sparsity": None,
            "noise_std": 0.1, "eval_prompts": 64, "split_seed": 0}
    prepare("icl", spec, {}, out)
    return out


def test_prepared_prompts_are_fixed_and_distinct_per_split(regression_data):
    meta = json.loads((regression_data / "meta.json").read_text())
    assert (meta["kind"], meta["n_dims"], meta["n_points"]) == ("regression", 2, 6)
    val, test = load_prompts(regression_data, "val"), load_prompts(regression_data, "test")
    assert val["xs"].shape == (64, 6, 2) and not torch.equal(val["xs"], test["xs"])
    batches = RegressionBatches(regression_data, meta, 16, seed=0)
    assert [x.shape[0] for x, _ in batches.val_batches(None, 0)] == [16] * 4
    assert len(batches.val_batches(2, 0)) == 2


def test_a_few_real_training_steps_and_the_icl_evaluation(regression_data, tmp_path):
    run = {"data": str(regression_data), "model": {"n_layer": 1, "n_head": 2, "n_embd": 16},
           "train": {"batch_size": 32, "max_iters": 40, "lr": 3e-3, "warmup_iters": 5, "eval_interval": 20,
                     "eval_iters": None, "lr_schedule": "constant"}}
    metrics = train(run, [0], tmp_path / "run", progress=False)[0]
    assert metrics["task"] == "regression" and np.isfinite(metrics["final_val_loss"])
    assert metrics["config"]["model"]["block_size"] == 12 and metrics["config"]["model"]["n_dims"] == 2
    result = icl.evaluate_run(tmp_path / "run" / "seed0", regression_data)
    assert result["n_examples"] == list(range(6)) and result["prompts"] == 64
    assert result["run_config_hash"] == metrics["config_hash"] and result["environment"]["device"] == "cpu"
    assert all(np.isfinite(result["error"])) and all(s >= 0 for s in result["sem"])
    # The evaluation is the model's own loss, per position: their mean is the test-set MSE / E|w|^2.
    model = load_model(tmp_path / "run" / "seed0")
    test = load_prompts(regression_data, "test")
    with torch.no_grad():
        _, mse = model(test["xs"], test["ys"])
    assert np.mean(result["error"]) == pytest.approx(mse.item() / 2, rel=1e-4)


@pytest.mark.parametrize("configfile", ["config/gpu.yaml", "config/paper.yaml"])
def test_the_icl_runs_train_with_garg_et_als_optimiser_and_init(configfile, monkeypatch):
    """Garg et al.'s train.py: Adam with torch's default betas (0.9, 0.999), no warm-up, a constant lr, no
    weight decay, no clipping; read-in and read-out at PyTorch's default init. Every ICL arm of both configs."""
    from conftest import REPO

    from unrolled import registry
    from unrolled.config import TrainConfig, run_config

    monkeypatch.chdir(REPO)
    config = registry.load_config([configfile])
    icl_experiments = [n for n, s in config["experiments"].items() if registry.is_icl(s, config)]
    assert len(icl_experiments) == 2
    for name in icl_experiments:
        for arm in config["experiments"][name]["arms"]:
            run = run_config(config["experiments"][name], arm)
            train, model = TrainConfig(**run["train"]), ModelConfig(**run["model"], task="regression", n_dims=20)
            assert (train.beta1, train.beta2, train.warmup_iters, train.lr_schedule) == (0.9, 0.999, 0, "constant")
            assert (train.weight_decay, train.grad_clip, model.init) == (0.0, 0.0, "gpt2_torch_io"), (name, arm)


def test_an_arm_whose_error_is_within_5_percent_of_predicting_zero_is_marked_on_its_plateau(regression_data,
                                                                                              tmp_path):
    """Predicting 0 scores 1 + the noise floor (0.1^2 / 2 here); an arm at 0.96 of that over the prompt has
    not left its plateau, one at 0.94 has; the table marks the first only."""
    from unrolled import table
    from unrolled.layout import ICL, run_file

    zero = 1 + 0.1 ** 2 / 2
    files = []
    for arm, level in (("learned", 0.94), ("stuck", 0.96)):
        for seed in (0, 1):
            path = Path(run_file("e", arm, seed, ICL, tmp_path))
            path.parent.mkdir(parents=True)
            error = [level * zero + (0.01 if k % 2 else -0.01) for k in range(6)]  # mean over k: level * zero
            path.write_text(json.dumps({"error": error}))
            files.append(path)
    summary = icl.summarize("e", {"arms": {"learned": {}, "stuck": {}}, "seeds": [0, 1]}, files, regression_data)
    assert summary["zero_predictor"] == pytest.approx(zero)
    assert summary["arms"]["learned"]["prompt_error"] == pytest.approx(0.94 * zero)
    assert [summary["arms"][a]["on_plateau"] for a in ("learned", "stuck")] == [False, True]
    lines = table._icl_section("icl", {"title": "ICL", "setup": "x"}, ["e"], {"icl": {"e": summary}})
    assert any(line.startswith("| stuck ‡ |") for line in lines)
    assert any(line.startswith("| learned |") for line in lines)
    assert any("Still on the initial plateau:** `stuck`" in line for line in lines)

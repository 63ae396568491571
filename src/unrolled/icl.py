"""In-context linear regression: the query error of trained models against the number of in-context
examples, next to the classical estimators fitted on the same examples of the same test prompts.

Errors are squared errors divided by E[(w.x)^2] (n_dims, or the sparsity for sparse w), so predicting
0 scores 1 and the noise floor is noise_std^2 / E[(w.x)^2], as in Garg et al. 2022. Baselines for
the query after k examples:

    least_squares   minimum-norm least squares (the interpolating fit when k < n_dims)
    optimal         the posterior mean under the generating prior: ridge with lambda = noise_std^2,
                    which is Bayes-optimal for dense w; for sparse w it is given the true support
                    (an oracle no estimator can beat)
    lasso           sparse tasks: scikit-learn's Lasso for each alpha of a grid; the best alpha at
                    each k on these prompts is kept (optimistic: tuned on the test prompts)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from unrolled import checkpoint, provenance
from unrolled.atomic import load_meta
from unrolled.data.regression import load_prompts, signal_variance
from unrolled.layout import ICL

LASSO_ALPHAS = (0.001, 0.01, 0.1, 1.0)


@torch.no_grad()
def model_errors(model, prompts: dict, batch_size: int = 256) -> np.ndarray:
    """Squared error of the model's prediction of every y_i, (prompts, n_points)."""
    errors = []
    for xs, ys in zip(prompts["xs"].split(batch_size), prompts["ys"].split(batch_size)):
        pred, _ = model(xs, ys)
        errors.append((pred.float() - ys) ** 2)
    return torch.cat(errors).double().numpy()


def _posterior_mean(x: torch.Tensor, y: torch.Tensor, support: torch.Tensor, noise_var: float) -> torch.Tensor:
    """E[w | x, y] for w ~ N(0, I) on `support` (a 0/1 mask per prompt), zero elsewhere."""
    xs = x * support[:, None, :]
    d = x.size(-1)
    if noise_var == 0:
        return torch.linalg.pinv(xs) @ y[..., None]
    gram = xs.transpose(1, 2) @ xs + noise_var * torch.eye(d, dtype=x.dtype)
    return torch.linalg.solve(gram, xs.transpose(1, 2) @ y[..., None]) * support[..., None]


def _lasso_errors(x: np.ndarray, y: np.ndarray, query_x: np.ndarray, query_y: np.ndarray, alpha: float):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    errors = np.empty(len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for n in range(len(x)):
            fit = Lasso(alpha=alpha, fit_intercept=False, max_iter=10_000).fit(x[n], y[n])
            errors[n] = (fit.coef_ @ query_x[n] - query_y[n]) ** 2
    return errors


def baseline_errors(prompts: dict, meta: dict, lasso_alphas=LASSO_ALPHAS) -> dict[str, np.ndarray]:
    """Normalised squared error of each baseline at each number of examples k: name -> (n_points,)."""
    xs, ys, ws = (prompts[k].double() for k in ("xs", "ys", "ws"))
    n, n_points, d = xs.shape
    noise_var = float(meta["noise_std"]) ** 2
    support = (ws != 0).double() if meta["sparsity"] else torch.ones(n, d, dtype=torch.float64)
    scale = signal_variance(meta)
    names = ("least_squares", "optimal", "lasso") if meta["sparsity"] else ("least_squares", "optimal")
    out = {name: np.empty(n_points) for name in names}
    if meta["sparsity"]:
        out["lasso_alpha"] = np.empty(n_points)
    for k in range(n_points):
        x, y, qx, qy = xs[:, :k], ys[:, :k], xs[:, k], ys[:, k]
        if k == 0:  # nothing seen: every estimator predicts 0
            for name in names:
                out[name][0] = float((qy ** 2).mean()) / scale
            if meta["sparsity"]:
                out["lasso_alpha"][0] = np.nan
            continue
        w_ls = torch.linalg.pinv(x) @ y[..., None]
        w_opt = _posterior_mean(x, y, support, noise_var)
        for name, w in (("least_squares", w_ls), ("optimal", w_opt)):
            out[name][k] = float((((qx[:, None, :] @ w)[:, 0, 0] - qy) ** 2).mean()) / scale
        if meta["sparsity"]:
            by_alpha = {a: _lasso_errors(x.numpy(), y.numpy(), qx.numpy(), qy.numpy(), a).mean() / scale
                        for a in lasso_alphas}
            best = min(by_alpha, key=by_alpha.get)
            out["lasso"][k], out["lasso_alpha"][k] = by_alpha[best], best
    return out


def evaluate_run(run_dir: str | Path, data_folder: str | Path) -> dict:
    """One finished run's error curve on the data set's test prompts (on the CPU: the models are small,
    and the baselines run there anyway)."""
    model = checkpoint.load_model(run_dir, "cpu")
    errors = model_errors(model, load_prompts(data_folder, "test")) / signal_variance(load_meta(data_folder))
    return ({"n_examples": list(range(errors.shape[1])), "error": errors.mean(0).tolist(),
             "sem": (errors.std(0, ddof=1) / np.sqrt(len(errors))).tolist(), "prompts": len(errors)}
            | provenance.evaluation(run_dir, "cpu"))


PLATEAU = 0.05  # an arm within this fraction of the zero predictor's error is still on its initial plateau


def summarize(experiment: str, spec: dict, files: list[str | Path], data_folder: str | Path) -> dict:
    """Per arm and k: mean error over seeds with a 95% t-interval (`files`: every run's icl.json); the
    baselines on the same prompts."""
    from unrolled import stats  # SciPy's, here only: each run's evaluation job (evaluate_run) starts without it
    from unrolled.summaries import load_runs

    meta = load_meta(data_folder)
    n_points = meta["n_points"]
    arms = {}
    for arm, by_seed in load_runs(files, spec, ICL).items():
        curves = np.array([r["error"] for r in by_seed.values()])
        described = [stats.describe(curves[:, k]) for k in range(n_points)]
        arms[arm] = {"mean": [d["mean"] for d in described], "ci95": [d["ci95"] for d in described],
                     "min": curves.min(0).tolist(), "max": curves.max(0).tolist(), "seeds": sorted(by_seed)}
    baselines = {name: [None if np.isnan(v) else float(v) for v in values]
                 for name, values in baseline_errors(load_prompts(data_folder, "test"), meta).items()}
    d, noise_floor = meta["n_dims"], meta["noise_std"] ** 2 / signal_variance(meta)
    # Predicting 0 scores 1 + the noise floor at every k. An arm whose error over the whole prompt is within
    # PLATEAU of that has not left the initial plateau: it has learned next to nothing in context yet.
    zero = 1 + noise_floor
    for a in arms.values():
        a["prompt_error"] = float(np.mean(a["mean"]))
        a["on_plateau"] = a["prompt_error"] >= (1 - PLATEAU) * zero
    return {"experiment": experiment, "n_dims": d, "n_points": n_points, "sparsity": meta["sparsity"],
            "noise_std": meta["noise_std"], "noise_floor": noise_floor, "zero_predictor": zero,
            "plateau": PLATEAU, "n_examples": list(range(n_points)), "arms": arms, "baselines": baselines,
            "table_k": table_k(d, n_points)}


def table_k(n_dims: int, n_points: int) -> list[int]:
    """The k reported in the table: half of d, d (where least squares first fits w exactly without
    noise), and the most examples a prompt holds."""
    return sorted({max(1, n_dims // 2), min(n_dims, n_points - 1), n_points - 1})

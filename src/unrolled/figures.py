"""Figures, drawn only from summaries, histories and theory results (never checkpoints), so they
regenerate in seconds after `dvc pull`. Each is written as PNG and PDF. A figure reads exactly the
files it is given (`registry.figure_inputs`, which the workflow passes), never a folder's listing.

Kinds (the `figures:` section of the config names which to draw, from which experiment):
    arms    per-seed distribution of each arm (violins) and the paired difference to the baseline
    curves  validation loss against step, mean and min-max band over seeds
    grid    2 x 2 heatmap: MLP on/off x A vs A - I
    snr     SNR against layer with the fitted rate (paper 2's theory)
    mnist   unrolled Laplacian Eigenmaps: scatter before/after, kNN accuracy and silhouette by depth
    icl     in-context regression error against the number of examples, per model, with baselines
    across  the paired difference of every comparison at each evaluation step (every experiment has one,
            drawn from its summary; the workflow makes it without a config entry)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from unrolled import paper  # noqa: E402
from unrolled.atomic import atomic_path, read_history, read_json  # noqa: E402
from unrolled.layout import HISTORY, run_of  # noqa: E402
from unrolled.paper import reported  # noqa: E402

LABELS = {"best_val_loss": "best val loss (nats per token)", "final_val_loss": "final val loss",
          "best_val_acc": "best val accuracy", "final_val_acc": "final val accuracy"}
COLOURS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _save(fig, out: Path):
    """The figure as PNG and PDF, both written to temporary files and renamed only when both are whole: a
    failed write (a full disk) leaves the previous pair as it was."""
    fig.tight_layout()
    try:
        with atomic_path(out.with_suffix(".png")) as png, atomic_path(out.with_suffix(".pdf")) as pdf:
            fig.savefig(png, format="png", dpi=150)
            fig.savefig(pdf, format="pdf", dpi=150, metadata={"CreationDate": None})
    finally:
        plt.close(fig)
    return fig


def arms(spec: dict, inputs: list[Path], out: Path):
    summary = read_json(inputs[0])
    key = spec.get("metric", summary["primary"])
    block = summary["metrics"][key]
    names = spec["arms"]
    claim = reported().get(spec.get("claim"), {})
    paper_arms = spec.get("paper_arms", {})  # our arm -> the paper's arm name
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1.2, 1]})

    data = [list(block["arms"][a]["values"].values()) for a in names]
    if all(len(d) > 1 for d in data):
        parts = left.violinplot(data, showmedians=True)
        for body in parts["bodies"]:
            body.set_alpha(0.3)
    for i, d in enumerate(data, start=1):
        left.scatter(np.full(len(d), i) + np.linspace(-0.06, 0.06, len(d)), d, s=18, zorder=3, color="k")
    left.set_xticks(range(1, len(names) + 1), names)
    left.set_ylabel(LABELS.get(key, key))
    left.set_title(f"{spec['experiment']}: {len(summary['seeds'])} seeds per arm")

    base = summary["baseline"]
    comps = [c for c in block["comparisons"] if c["reference"] == base and c["arm"] in names]
    for i, c in enumerate(comps):
        right.scatter(np.full(len(c["differences"]), i), c["differences"], s=18, color="k", zorder=3)
        low, high = c.get("ci95", [None, None])
        if low is not None:
            right.errorbar(i + 0.15, c["mean"], yerr=[[c["mean"] - low], [high - c["mean"]]], fmt="o",
                           color=COLOURS[0], capsize=4, label="ours: mean, 95% t-interval" if i == 0 else None)
        p_base, p_arm = (paper.arm_value(claim, paper_arms.get(x, x)) for x in (base, c["arm"]))
        if p_base is not None and p_arm is not None:
            right.scatter(i - 0.15, p_arm - p_base, marker="D", color=COLOURS[1], zorder=4,
                          label="paper: difference of medians (its scale)" if i == 0 else None)
    right.axhline(0, color="grey", lw=0.8)
    right.set_xticks(range(len(comps)), [f"{c['arm']}\n− {base}" for c in comps])
    right.set_ylabel(f"paired difference in {key}")
    better = "higher" if summary["higher_is_better"] else "lower"
    right.set_title(f"per-seed difference ({better} is better)")
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=8)
    return _save(fig, out)


def histories(inputs: list[Path]) -> dict[str, list[dict]]:
    """{arm: [{"step": [...], "val_loss": [...]} per seed, in the order given]} from history.csv files."""
    out = {}
    for path in inputs:
        rows = read_history(path)
        curve = {k: [float(r[k]) for r in rows] for k in ("step", "val_loss")}
        out.setdefault(run_of(path, HISTORY)[1], []).append(curve)
    return out


def curves(spec: dict, inputs: list[Path], out: Path):
    claim = reported().get(spec.get("claim"), {})
    paper_arms = spec.get("paper_arms", {})
    by_arm = histories(inputs)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for colour, arm in zip(COLOURS, spec["arms"]):
        hist = by_arm[arm]
        steps = hist[0]["step"]
        vals = np.array([h["val_loss"] for h in hist])
        paper_value = paper.arm_value(claim, paper_arms.get(arm, arm))
        label = f"{arm} ({len(hist)} seeds)" + (
            f"; {claim['paper']}: {paper_value:.2f} at its scale" if paper_value else "")
        ax.plot(steps, vals.mean(0), color=colour, label=label)
        ax.fill_between(steps, vals.min(0), vals.max(0), color=colour, alpha=0.2)
    ax.set_xlabel("training step")
    ax.set_ylabel("val loss (mean; band: min–max over seeds)")
    ax.set_title(f"{spec['experiment']}: validation loss during training")
    ax.legend(fontsize=8)
    return _save(fig, out)


def grid(spec: dict, inputs: list[Path], out: Path):
    summary = read_json(inputs[0])
    key = spec.get("metric", summary["primary"])
    block = summary["metrics"][key]
    rows, cols = list(spec["cells"]), ["A", "A_minus_I"]
    means = np.array([[block["arms"][spec["cells"][r][c]]["mean"] for c in cols] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 4.2))
    im = ax.imshow(means, cmap="viridis_r" if not summary["higher_is_better"] else "viridis")
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            d = block["arms"][spec["cells"][r][c]]
            low, high = d["ci95"]
            ci = f"\n[{low:.3f}, {high:.3f}]" if low is not None else ""
            ax.text(j, i, f"{spec['cells'][r][c]}\n{d['mean']:.3f}{ci}", ha="center", va="center", fontsize=8,
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    ax.set_xticks(range(2), ["attention A", "Laplacian A − I"])
    ax.set_yticks(range(len(rows)), [f"MLP: {r}" for r in rows])
    fig.colorbar(im, ax=ax, label=f"mean {key} over {len(summary['seeds'])} seeds")
    ax.set_title("2 × 2: MLP on/off × A vs A − I (neither paper ran this)")
    return _save(fig, out)


def snr(spec: dict, inputs: list[Path], out: Path):
    r = read_json(inputs[0])
    claim = reported()["p2_snr"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for colour, (delta, d) in zip(COLOURS, r["deltas"].items()):
        layers = np.arange(1, len(d["snr"]) + 1)
        a.plot(layers, d["snr"], "o", color=colour, ms=4, label=f"δ = {delta}: measured")
        n = d["fit_layers"]
        fit = d["snr"][0] * d["fitted_rate"] ** (layers[:n] - 1)
        a.plot(layers[:n], fit, "-", color=colour, lw=1,
               label=f"δ = {delta}: fit, rate {d['fitted_rate']:.4f} over {n} layers")
        if delta in claim["deltas"]:
            p = claim["deltas"][delta]
            a.plot(claim["layers"], [p["first"], p["last"]], "--", color=colour, alpha=0.5,
                   label=f"δ = {delta}: paper (its own N, p, K)")
    a.set_yscale("log")
    a.set_xlabel("layer")
    a.set_ylabel("SNR (log scale)")
    a.set_title(f"theory rate 1 + ητ = {r['theory_rate']:.4f} (η = {r['eta']}, τ = {r['tau']})")
    a.legend(fontsize=7)
    for colour, (eta, d) in zip(COLOURS, r["long_run"].items()):
        stall = d["stall_layer"]
        b.plot(np.arange(1, len(d["snr"]) + 1), d["snr"], color=colour,
               label=f"η = {eta}: growth stops at layer {stall}" if stall else f"η = {eta}: no stall")
    b.set_yscale("log")
    b.set_xlabel("layer")
    b.set_ylabel("SNR (log scale)")
    b.set_title(f"many layers, δ = {next(iter(r['deltas']))}: where the linear rate ends")
    b.legend(fontsize=8)
    return _save(fig, out)


def mnist(spec: dict, inputs: list[Path], out: Path):
    r = read_json(inputs[0])
    lat = np.load(inputs[1])
    depth = r["block_depth"]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    for ax, key, title in ((axes[0], "depth0", "before: random projection + LN"),
                           (axes[1], f"authors_depth{depth}", f"after {depth} hand-set blocks")):
        pts = lat[key]
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=lat["labels"], cmap="tab10", s=2)
        ax.set_title(title)
        ax.set_xlabel("latent dim 1")
        ax.set_ylabel("latent dim 2")
    fig.colorbar(sc, ax=axes[1], label="digit")
    for ax, metric, label in ((axes[2], "knn_acc", "10-NN accuracy (5-fold)"),
                              (axes[3], "silhouette", "silhouette (digits)")):
        for colour, (name, rows) in zip(COLOURS, r["updates"].items()):
            ax.plot([x["depth"] for x in rows], [x[metric] for x in rows], "o-", ms=3, color=colour,
                    label={"authors": "LN(X + 2ηÃX): the authors' block", "a_minus_i": "LN(X + 2η(Ã − I)X)"}[name])
        ax.axvline(depth, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("depth (blocks applied)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    axes[2].set_title(f"n = {r['n']}, q = {r['q']}, κ = {r['kappa']}, η = {r['eta']}")
    return _save(fig, out)


BASELINE_STYLE = {"least_squares": ("least squares", "k--"), "optimal": ("optimal", "k:"),
                  "lasso": ("Lasso (best alpha)", "k-.")}


def icl(spec: dict, inputs: list[Path], out: Path):
    panels = [read_json(path) for path in inputs]  # one per experiment, in the spec's order
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.4), squeeze=False)
    for ax, r, name in zip(axes[0], panels, spec["experiments"]):
        k = np.array(r["n_examples"])
        for i, (arm, a) in enumerate(r["arms"].items()):
            ax.plot(k, a["mean"], "o-", ms=3, color=COLOURS[i % len(COLOURS)], label=arm)
            ax.fill_between(k, a["min"], a["max"], color=COLOURS[i % len(COLOURS)], alpha=0.15)
        for base, (label, style) in BASELINE_STYLE.items():
            if base in r["baselines"]:
                ax.plot(k, r["baselines"][base], style, label=label)
        ax.axhline(r["noise_floor"], color="grey", lw=0.8, label="noise floor")
        ax.axvline(r["n_dims"], color="grey", lw=0.5, ls=":")
        sparse = f", {r['sparsity']}-sparse w" if r["sparsity"] else ", dense w"
        ax.set(title=f"{name}: d = {r['n_dims']}{sparse}", xlabel="in-context examples k",
               ylabel="query squared error / E[(w·x)²]", ylim=(0, 1.6))
        ax.legend(fontsize=7, ncol=2)
    return _save(fig, out)


def across(spec: dict, inputs: list[Path], out: Path):
    """Left: every arm against the baseline; right: the experiment's extra pairs (if any). A line per
    comparison with its per-step 95% t-interval band; dashed verticals where the reference arm's seeds reach
    their best value (median step); dotted horizontals: the paper's difference, at its own scale."""
    summary = read_json(inputs[0])
    at = summary["across_training"]
    groups = [[c for c in at["comparisons"] if c["reference"] == summary["baseline"]],
              [c for c in at["comparisons"] if c["reference"] != summary["baseline"]]]
    groups = [g for g in groups if g]
    fig, axes = plt.subplots(1, len(groups), figsize=(6.5 * len(groups), 4.4), squeeze=False)
    better = "higher" if summary["higher_is_better"] else "lower"
    for ax, comps in zip(axes[0], groups):
        for i, c in enumerate(comps):
            colour = COLOURS[i % len(COLOURS)]
            steps = [r["step"] for r in c["steps"]]
            ax.plot(steps, [r["mean"] for r in c["steps"]], "o-", ms=3, color=colour,
                    label=f"{c['arm']} − {c['reference']} ({c['n']} seeds)")
            if all(r["ci95"][0] is not None for r in c["steps"]):
                ax.fill_between(steps, [r["ci95"][0] for r in c["steps"]], [r["ci95"][1] for r in c["steps"]],
                                color=colour, alpha=0.15)
            reported_diff = paper.difference_in_claims(spec.get("claims", {}), c["arm"], c["reference"],
                                                       summary["baseline"])
            if reported_diff:
                value, name = reported_diff
                ax.axhline(value, color=colour, ls=":", lw=1.2, label=f"{name}: {value:+.3f} (its scale)")
        _mark_best_steps(ax, {c["reference"]: at["arms"][c["reference"]]["best_step_median"] for c in comps},
                         max(r["step"] for c in comps for r in c["steps"]))
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel="training step", ylabel=f"paired difference in {at['metric']} ({better} is better)")
        ax.set_title(f"{spec['experiment']}: " + ("against the baseline" if comps[0]["reference"] == summary["baseline"]
                                                  else "extra pairs"), fontsize=10)
        ax.legend(fontsize=7)
    return _save(fig, out)


def _mark_best_steps(ax, best: dict[str, float], last_step: float) -> None:
    """A dashed vertical where each reference arm's seeds reach their best (median step): one label per
    distinct step naming every arm there, inside the axes (right-aligned in its right half), and labels of
    nearby steps stacked so that none overlaps another."""
    at_step: dict[float, list[str]] = {}
    for arm, step in best.items():
        at_step.setdefault(step, []).append(arm)
    level, previous = 0, None
    for step in sorted(at_step):
        level = level + 1 if previous is not None and step - previous < 0.15 * last_step else 0
        previous = step
        right = step > last_step / 2
        ax.axvline(step, color="grey", ls="--", lw=0.8)
        ax.annotate(f"{', '.join(at_step[step])} best\n(median step {step:g})", (step, 1),
                    xycoords=("data", "axes fraction"), xytext=(-3 if right else 3, -3 - 20 * level),
                    textcoords="offset points", va="top", ha="right" if right else "left", fontsize=7, color="grey")


def regime_map(spec: dict, inputs: list[Path], out: Path):
    """One comparison's paired difference (mean, 95% t-interval) at each training-set size, against the
    epochs the baseline had seen at its best step (log scale: left under-fits, right over-fits), each point
    labelled with its size and the baseline's median rise from best to final (how far it over-fits); filled
    markers where the size is in the regime it states, a dotted line between neighbouring sizes where the mean
    changes sign, and the reference run at the paper's scale as a star."""
    m = read_json(inputs[0])
    fig, ax = plt.subplots(figsize=(8, 4.6))
    for p in m["points"]:
        low, high = p["ci95"] if p["ci95"] and p["ci95"][0] is not None else (p["mean"], p["mean"])
        stated = p["regime"]["stated"]
        filled = p["regime"]["in_regime"] is not False
        ax.errorbar(p["epochs_at_baseline_best"], p["mean"], yerr=[[p["mean"] - low], [high - p["mean"]]], fmt="o",
                    color=COLOURS[0], mfc=COLOURS[0] if filled else "white", capsize=4)
        rise = p["regime"]["median_drop"][m["baseline"]]
        note = f"{p['train_items']:,} chars, n {p['n']}\n{m['baseline']} final − best {rise:.3f}" + (
            f"\n{stated}{'' if filled else ' (not met)'}" if stated else "")
        ax.annotate(note, (p["epochs_at_baseline_best"], high), xytext=(0, 6), textcoords="offset points",
                    ha="center", fontsize=7)
    points = {p["experiment"]: p for p in m["points"]}
    for a, b in m["sign_flips"]:
        x = np.sqrt(points[a]["epochs_at_baseline_best"] * points[b]["epochs_at_baseline_best"])
        ax.axvline(x, color="grey", ls=":", lw=1)
        ax.annotate("sign flips", (x, 0.02), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                    color="grey", ha="right", va="bottom")
    ref = m.get("reference")
    if ref and ref["epochs_at_baseline_best"] is not None:
        low, high = ref["ci95"]
        ax.errorbar(ref["epochs_at_baseline_best"], ref["mean"], yerr=[[ref["mean"] - low], [high - ref["mean"]]],
                    fmt="*", ms=12, color=COLOURS[1], capsize=4,
                    label=f"{ref['label']}, n {ref['n']}; {m['baseline']} final − best "
                          f"{ref['regime']['median_drop'][m['baseline']]:.3f}")
        ax.legend(fontsize=8, loc="lower left")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.18)
    ax.set(xlabel=f"epochs {m['baseline']} had seen at its best step (median over seeds)",
           ylabel=f"{m['arm']} − {m['baseline']}, {m['metric']}")
    ax.set_title(f"{m['name']}: paired difference by training-set size (mean, 95% t-interval)", fontsize=10)
    return _save(fig, out)


KINDS = {"regime_map": regime_map, "across": across, "icl": icl, "arms": arms, "curves": curves, "grid": grid,
         "snr": snr, "mnist": mnist}


def draw(spec: dict, inputs: list[str | Path], out: str | Path):
    """Draw the figure `spec` from exactly `inputs` (registry.figure_inputs) into `out` (.png; the .pdf
    beside it); returns the (closed) matplotlib figure."""
    kind = spec["kind"]
    if kind not in KINDS:
        raise ValueError(f"figure kind {kind!r} is not one of {sorted(KINDS)}")
    for path in inputs:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: missing; the figure {kind!r} reads it")
    return KINDS[kind](spec, [Path(p) for p in inputs], Path(out))

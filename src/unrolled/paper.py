"""The papers' reported numbers, shipped with the package (paper_numbers.yaml)."""

from __future__ import annotations

from pathlib import Path

import yaml


def reported() -> dict:
    return yaml.safe_load((Path(__file__).with_name("paper_numbers.yaml")).read_text())

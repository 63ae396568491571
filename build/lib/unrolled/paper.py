"""The papers' reported numbers, shipped with the package (paper_numbers.yaml), and what follows from them
(an arm's reported value, the paper's difference between two arms): the table and the figures ask here."""

from __future__ import annotations

from pathlib import Path

import yaml


def reported() -> dict:
    return yaml.safe_load((Path(__file__).with_name("paper_numbers.yaml")).read_text())


def arm_value(claim: dict, arm: str) -> float | None:
    """What the paper reports for one of its arms: the median of its runs, or its single value."""
    entry = claim.get("arms", {}).get(arm, {})
    return entry.get("median", entry.get("value"))


def difference(claim: dict, mapping: dict, arm: str, reference: str, baseline: str) -> float | None:
    """The paper's arm - reference for one of our comparisons (`mapping`: our arm -> the paper's): the
    difference of its reported values where it reports both arms; else, against the baseline only, its
    `difference` for the arm; else none (an extra pair the paper never compared)."""
    p_arm, p_ref = arm_value(claim, mapping[arm]), arm_value(claim, mapping[reference])
    if p_arm is not None and p_ref is not None:
        return p_arm - p_ref
    return claim.get("difference", {}).get(mapping[arm]) if reference == baseline else None


def difference_in_claims(claims: dict, arm: str, reference: str, baseline: str | None) -> tuple[float, str] | None:
    """The paper's arm - reference from the first of an experiment's `claims` (claim id -> our arm -> the
    paper's arm) that maps both arms and reports a value for each, or the difference itself against the
    experiment's `baseline`, with the paper's name; else None."""
    for claim_id, mapping in claims.items():
        claim = reported().get(claim_id, {})
        if arm in mapping and reference in mapping:
            value = difference(claim, mapping, arm, reference, baseline)
            if value is not None:
                return value, claim["paper"]
    return None

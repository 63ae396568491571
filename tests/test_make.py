"""The Makefile as a user meets it: `make help` lists every target, and bad or missing input stops with one
line that says what to do (CORES, `make pull` without the prepared data's .dvc file, `make test`'s system
packages)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import REPO, VENV_BIN, run

STAMP = f"{VENV_BIN.parent}/.installed"


def make(*args, cwd=REPO, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-o", STAMP, f"VENV={VENV_BIN.parent}", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_make_help_lists_every_target():
    targets = re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), re.M)
    shown = re.findall(r"^([a-z][a-z-]*)$", make("help").stdout, re.M)
    assert sorted(shown) == sorted(set(targets)) and {"rehearse-gpu", "clean-venv", "regime"} <= set(shown)


@pytest.mark.parametrize("cores", ["0", "-1", "two"])
def test_fewer_than_one_core_is_refused_at_once(cores):
    proc = make("reproduce", f"CORES={cores}")
    assert proc.returncode != 0 and f"CORES={cores}: give Snakemake at least one core" in proc.stderr
    assert "Select jobs" not in proc.stdout + proc.stderr


def test_make_pull_without_the_prepared_datas_dvc_file_points_to_pull_reference(tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(REPO), str(clone)], cwd=tmp_path)
    proc = make("pull", cwd=clone)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no data/prepared.dvc here" in proc.stdout and "make pull-reference" in proc.stdout
    assert not (clone / "data").exists() and not (clone / "results").exists()  # nothing half done


def test_make_test_says_before_it_installs_system_packages_and_a_variable_skips_them(tmp_path):
    """`make test` with a stand-in python that records how pytest was called."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text("#!/bin/sh\necho \"pytest called: NO_SYSTEM_PACKAGES=$NO_SYSTEM_PACKAGES $*\"\n")
    (fake / "python").chmod(0o755)
    proc = make("test", f"BIN={fake}")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("pytest called: NO_SYSTEM_PACKAGES= -m pytest")
    as_root_without_slurm = os.geteuid() == 0 and subprocess.run(["sh", "-c", "command -v slurmctld"]).returncode
    said = any("installs slurm-wlm and munge with apt-get" in line for line in lines[:-1])
    assert said == bool(as_root_without_slurm)
    quiet = make("test", f"BIN={fake}", "NO_SYSTEM_PACKAGES=1")
    assert quiet.stdout.splitlines() == ["NO_SYSTEM_PACKAGES=1 " + f"{fake}/python -m pytest",
                                         "pytest called: NO_SYSTEM_PACKAGES=1 -m pytest"] or \
        quiet.stdout.splitlines()[-1] == "pytest called: NO_SYSTEM_PACKAGES=1 -m pytest"
    assert "apt-get" not in quiet.stdout


def test_the_clis_configfile_says_it_replaces_the_default():
    help_text = subprocess.run([str(VENV_BIN / "python"), "-m", "unrolled", "status", "--help"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout
    assert "REPLACE the default config/config.yaml" in " ".join(help_text.split())

"""`make regress` passes on this build and fails when a detector rule family is removed.

Needs the dev data (DATA_DIR or DATA, default ../shared/data): skipped without it.
Run: .venv/bin/pytest -q tests/regress
"""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("DATA_DIR") or os.environ.get("DATA") or os.path.join(ROOT, "..", "shared", "data")

pytestmark = pytest.mark.skipif(
    not os.path.isfile(os.path.join(DATA, "injection", "dev.jsonl")),
    reason="dev data not found (DATA_DIR=%s)" % DATA)


def regress(**env):
    e = dict(os.environ, DATA_DIR=os.path.abspath(DATA), **env)
    return subprocess.run(["make", "-s", "regress"], cwd=ROOT, env=e, capture_output=True, text=True,
                          timeout=900)


def test_this_build_matches_the_baseline():
    r = regress()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "0 worse" in r.stdout and "regress: ok" in r.stdout, r.stdout


def test_removing_a_rule_family_fails_and_prints_the_cases():
    r = regress(REGRESS_DISABLE_RULE="override")
    assert r.returncode != 0, r.stdout[-3000:]
    assert "regress: FAILED" in r.stdout, r.stdout[-3000:]
    worse = [l for l in r.stdout.splitlines() if l.startswith("WORSE injection ")]
    assert worse, r.stdout[-3000:]
    # Cases are named by hashes: no text of the data set is printed.
    assert all(len(l.split()[2].rstrip(":")) == 16 for l in worse)


def test_a_tolerance_lets_a_few_worse_cases_pass():
    r = regress(REGRESS_DISABLE_RULE="override", REGRESS_MAX_WORSE="100000")
    assert r.returncode == 0, r.stdout[-3000:]

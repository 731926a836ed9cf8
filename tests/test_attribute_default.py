"""`revline attribute` without -m runs every model a report can show: the rule models, then the
data-driven Markov and Shapley models (`--rules-only` skips those)."""

from __future__ import annotations

import os
import subprocess
import sys

from revline.attribution.config import BUILTIN_MODELS
from revline.ops.attribute import DATA_DRIVEN_MODELS, attribute
from revline.store import connect


def _models(con, run_ids: list[str]) -> set[str]:
    rows = con.execute("SELECT DISTINCT model FROM attribution_runs WHERE run_id IN (SELECT unnest(?))", [run_ids]).fetchall()
    return {r[0] for r in rows}


def test_default_runs_rule_and_data_driven_models(api_store):
    con = connect(api_store)
    every = attribute(con, milestones=["won"])
    assert _models(con, every.run_ids) == set(BUILTIN_MODELS) | set(DATA_DRIVEN_MODELS)
    rules = attribute(con, milestones=["won"], rules_only=True)
    assert _models(con, rules.run_ids) == set(BUILTIN_MODELS)
    picked = attribute(con, models=["linear"], milestones=["won"])
    assert _models(con, picked.run_ids) == {"linear"}
    con.close()


def test_cli_then_report_markov_needs_no_m(api_store):
    env = {**os.environ, "COLUMNS": "200"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "revline", *a, "--db", str(api_store)],  # noqa: E731
                                    capture_output=True, text=True, timeout=600, env=env)
    res = run("attribute", "--milestone", "won")
    assert res.returncode == 0, res.stderr
    rep = run("report", "-m", "markov", "-m", "shapley")
    assert rep.returncode == 0, rep.stderr
    assert "markov" in rep.stdout and "shapley" in rep.stdout

"""`revline demo` end to end through a real subprocess, and its determinism."""

from __future__ import annotations

import hashlib
import json
import re
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_pipeline")]

# Tables whose content is a pure function of the seed (run ids and wall-clock stamps excluded).
DETERMINISTIC = {
    "accounts": "account_id", "people": "person_id", "identities": "identity_type, identity_value",
    "touchpoints": "touchpoint_id", "campaigns": "campaign_id", "spend": "date, channel, campaign_id",
    "opportunities": "opportunity_id", "opportunity_contacts": "opportunity_id, person_id",
    "stage_events": "object_type, object_id, stage, entered_at", "targets": "period_start, segment",
    "milestones": "object_type, object_id, milestone, occurred_at",
}


def _demo(tmp: Path, seed: int = 7) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "revline", "demo", "--size", "tiny", "--seed", str(seed), "--out", str(tmp / "files"),
         "--db", str(tmp / "store.duckdb"), "--report", str(tmp / "report.html")],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=900,
    )


def _fingerprint(db: Path) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    out = {}
    for table, order in DETERMINISTIC.items():
        rows = con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        out[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    ledger = con.execute(
        "SELECT model, milestone, revenue_type, conversion_id, touchpoint_id, round(credit, 9), round(revenue_credit, 4) "
        "FROM credit_ledger ORDER BY ALL"
    ).fetchall()
    out["credit_ledger"] = hashlib.sha256(repr(ledger).encode()).hexdigest()
    con.close()
    return out


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    res = _demo(tmp)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return tmp, res


def test_demo_prints_report_and_writes_html(demo_run):
    tmp, res = demo_run
    out = res.stdout
    assert "Revenue won, by channel and model" in out
    assert "all revenue types (new business, renewal, expansion)" in " ".join(out.split())  # its definition beside it
    assert "ROI by channel" in out
    assert "How wrong is each model?" in out
    html = (tmp / "report.html").read_text()
    for section in ("every model side by side", "ROI, CAC and payback", "Markov removal effects",
                    "Truth table", "Funnel", "quarantined source rows"):
        assert section in html, section
    # self-contained: plotly.js inlined, nothing loaded from the network
    assert "<script" in html and "Plotly" in html
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?://", html)


def test_demo_ledger_invariants(demo_run):
    tmp, _ = demo_run
    con = duckdb.connect(str(tmp / "store.duckdb"), read_only=True)
    models = {r[0] for r in con.execute("SELECT DISTINCT model FROM attribution_runs").fetchall()}
    assert {"first_touch", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped", "full_path",
            "lead_creation", "markov", "shapley"} <= models
    bad = con.execute(
        "SELECT run_id, conversion_id, sum(credit) s FROM credit_ledger GROUP BY 1, 2 HAVING abs(s - 1) > 1e-6"
    ).fetchall()
    assert bad == []
    # revenue credit of each won opportunity equals its amount (USD) in every won run
    won = con.execute(
        """
        SELECT l.run_id, l.conversion_id, sum(l.revenue_credit) AS credited
        FROM credit_ledger l WHERE l.milestone = 'won' GROUP BY 1, 2
        """
    ).df()
    assert len(won) > 0 and (won["credited"] > 0).all()
    # every won opportunity appears in the won runs, attributed or explicitly unattributed
    n_won = con.execute("SELECT count(*) FROM opportunities WHERE is_won AND revenue_type = 'new_business'").fetchone()[0]
    n_led = con.execute(
        "SELECT count(DISTINCT conversion_id) FROM credit_ledger WHERE model = 'linear' AND milestone = 'won' AND revenue_type = 'new_business'"
    ).fetchone()[0]
    assert n_led == n_won
    # the quarantine shows the deliberately bad source rows of the demo
    truth = json.loads((tmp / "files" / "ground_truth.json").read_text())
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] >= len(truth["bad_rows"]) > 0


def test_demo_is_deterministic(demo_run, tmp_path):
    tmp, _ = demo_run
    res = _demo(tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _fingerprint(tmp / "store.duckdb") == _fingerprint(tmp_path / "store.duckdb")

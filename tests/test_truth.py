"""Truth table: model shares vs the demo's counterfactual ground truth."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from revline.attribution.ledger import write_ledger
from revline.reports.truth import load_ground_truth, true_channel_values, truth_summary, truth_table
from revline.store import connect

TRUTH = {
    "seed": 1,
    "channels": {
        "email": {"tracked": True, "incremental_revenue": 999.0, "incremental_pipeline": 0.0,
                  "incremental_revenue_by_type": {"new_business": 600.0}, "incremental_pipeline_by_type": {"new_business": 900.0}},
        "paid_search": {"tracked": True, "incremental_revenue": 300.0, "incremental_revenue_by_type": {"new_business": 300.0}},
        "display": {"tracked": True, "incremental_revenue": -50.0, "incremental_revenue_by_type": {"new_business": -50.0}},
        "events": {"tracked": True, "incremental_revenue": 100.0, "incremental_revenue_by_type": {"new_business": 100.0}},
        "tv": {"tracked": False, "incremental_revenue": 5000.0, "incremental_revenue_by_type": {"new_business": 5000.0}},
    },
}


def _ledger(con, model, milestone, credits):
    """credits: {channel: revenue}; one opportunity per channel, one touch each."""
    rows = pd.DataFrame(
        {
            "conversion_id": [f"{model}-{c}" for c in credits],
            "touchpoint_id": [None if c == "(unattributed)" else f"t-{c}" for c in credits],
            "credit": 1.0,
            "revenue_credit": list(credits.values()),
            "channel": list(credits),
        }
    )
    return write_ledger(con, rows, model=model, milestone=milestone, revenue_type="new_business")


@pytest.fixture
def con():
    c = connect(":memory:")
    # perfect: the true shares (email .6, paid_search .3, events .1, display 0)
    _ledger(c, "perfect", "won", {"email": 60.0, "paid_search": 30.0, "events": 10.0, "(unattributed)": 50.0})
    # last touch over-credits display and misses events
    _ledger(c, "last_touch", "won", {"email": 20.0, "paid_search": 30.0, "display": 50.0})
    _ledger(c, "last_touch", "opportunity", {"email": 200.0, "display": 100.0})
    yield c
    c.close()


def test_true_shares_over_tracked_channels():
    t = true_channel_values(TRUTH, "new_business").set_index("channel")
    assert "tv" not in t.index
    assert t["true_share"].to_dict() == pytest.approx({"email": 0.6, "paid_search": 0.3, "events": 0.1, "display": 0.0})
    assert t.loc["email", "true_incremental_revenue"] == 600.0  # by type, not the all-types total
    assert t.loc["email", "true_incremental_pipeline"] == 900.0


def test_truth_table_errors_and_ranks(con):
    table = truth_table(con, TRUTH)
    assert set(table["model"]) == {"perfect", "last_touch"}
    lt = table[table.model == "last_touch"].set_index("channel")
    assert lt["model_share"].to_dict() == pytest.approx({"email": 0.2, "paid_search": 0.3, "display": 0.5, "events": 0.0})
    assert lt.loc["email", "attributed_pipeline"] == 200.0
    assert table.attrs["untracked_revenue"]["perfect"] == 50.0
    summary = truth_summary(table).set_index("model")
    assert summary.loc["perfect", "total_abs_share_error"] == pytest.approx(0.0)
    # |.2-.6| + |.3-.3| + |.5-0| + |0-.1| = 1.0
    assert summary.loc["last_touch", "total_abs_share_error"] == pytest.approx(1.0)
    assert summary.loc["perfect", "rank_correlation"] == pytest.approx(1.0)
    assert summary.loc["last_touch", "rank_correlation"] < 0.5
    assert truth_summary(table)["model"].iloc[0] == "perfect"  # best first
    with pytest.raises(ValueError, match="no ledger run"):
        truth_table(con, TRUTH, models=["markov"])


def test_truth_cli_and_file_errors(con, tmp_path):
    from revline.cli import app

    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "ground_truth.json").write_text(json.dumps(TRUTH))
    assert load_ground_truth(demo)["seed"] == 1
    db = tmp_path / "s.duckdb"
    con.execute(f"ATTACH '{db}' AS f")
    con.execute("COPY FROM DATABASE memory TO f")
    con.execute("DETACH f")
    out = tmp_path / "truth.csv"
    r = CliRunner().invoke(app, ["truth", "--db", str(db), "--demo-dir", str(demo), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "perfect" in r.output and set(pd.read_csv(out)["model"]) == {"perfect", "last_touch"}
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "ground_truth.json").write_text(json.dumps({"channels": {"email": {"tracked": True}}}))
    with pytest.raises(ValueError, match="incremental_revenue"):
        load_ground_truth(bad)
    r = CliRunner().invoke(app, ["truth", "--db", str(db), "--demo-dir", str(tmp_path / "nope")])
    assert r.exit_code == 1 and "ground truth" in r.output

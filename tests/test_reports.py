"""DataFrame reports over the ledger, and the `revline attribute` / `revline report` CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from attribution_data import insert, make_store
from test_attribution_rules import W5
from typer.testing import CliRunner

from revline.attribution import run_models
from revline.reports.revenue import revenue_vs_target
from revline.reports.tables import (
    ReportError,
    attribution_by,
    model_comparison,
    unattributed,
    write_table,
)

CAMPAIGNS = [
    {"campaign_id": "c1", "name": "Brand search", "channel": "paid_search"},
    {"campaign_id": "c2", "name": "Nurture", "channel": "email"},
]


@pytest.fixture(scope="module")
def store():
    con = make_store({**W5, "campaigns": CAMPAIGNS})
    con.execute("UPDATE touchpoints SET touch_type = 'page_view' WHERE touchpoint_id IN ('t1', 't5')")
    con.execute("UPDATE touchpoints SET touch_type = 'form_fill' WHERE touchpoint_id = 't2'")
    run_models(con, ["w_shaped", "linear", "first_touch"], ["won", "opportunity", "lead"], ["new_business", "all"])
    yield con
    con.close()


def test_attribution_by_channel_models_side_by_side(store):
    df = attribution_by(store, "channel", ["w_shaped", "linear"]).set_index("channel")
    assert list(df.columns) == ["w_shaped", "linear"]
    assert df.loc["paid_search", "w_shaped"] == pytest.approx(300.0)
    assert df.loc["webinar", "w_shaped"] == pytest.approx(50.0)
    assert df.loc["(unattributed)", "linear"] == pytest.approx(540.0)
    # the 'all' run of the same model is not added on top of new_business
    assert df.sum().tolist() == pytest.approx([1540.0, 1540.0])


def test_attribution_by_long_form_and_other_dimensions(store):
    long = attribution_by(store, "channel", ["w_shaped", "first_touch"], long=True)
    assert set(long.columns) >= {"channel", "model", "conversions", "revenue", "share"}
    assert long.groupby("model").share.sum().tolist() == pytest.approx([1.0, 1.0])
    camp = attribution_by(store, "campaign", ["first_touch"]).set_index("campaign")
    assert camp.loc["c1", "campaign_name"] == "Brand search"
    assert camp.loc["c1", "first_touch"] == pytest.approx(1000.0)
    tt = attribution_by(store, "touch_type", ["w_shaped"]).set_index("touch_type")
    assert tt.loc["page_view", "w_shaped"] == pytest.approx(350.0)
    assert tt.loc["form_fill", "w_shaped"] == pytest.approx(300.0)
    months = attribution_by(store, "month", ["linear"]).set_index("month")
    assert months.loc[pd.Timestamp("2024-01-01"), "linear"] == pytest.approx(800.0)
    assert months.loc[pd.Timestamp("2024-02-01"), "linear"] == pytest.approx(200.0 + 540.0)  # O2 by its close month


def test_lead_milestone_reports_conversions(store):
    df = attribution_by(store, "channel", ["first_touch"], milestone="lead").set_index("channel")
    assert df["first_touch"].to_dict() == {"paid_search": pytest.approx(1.0)}


def test_date_filter_uses_conversion_date(store):
    assert attribution_by(store, "channel", ["linear"], start="2024-03-01").empty
    df = attribution_by(store, "channel", ["linear"], start="2024-02-01", end="2024-02-28")
    assert df["linear"].sum() == pytest.approx(1540.0)
    with pytest.raises(ReportError, match="start must be a date"):
        attribution_by(store, "channel", start="last tuesday")


def test_model_comparison_and_unattributed(store):
    cmp = model_comparison(store, "won", "new_business", models=["first_touch", "linear"]).set_index("channel")
    assert cmp.loc["paid_search", "first_touch"] == pytest.approx(0.5)
    assert cmp.loc["paid_search", "linear"] == pytest.approx(0.1)
    assert cmp.loc["paid_search", "spread"] == pytest.approx(0.4)
    un = unattributed(store, milestone="won", revenue_type="new_business")
    assert set(un.model) == {"w_shaped", "linear", "first_touch"}
    assert (un.conversions == 2).all() and (un.unattributed == 1).all()
    assert un.unattributed_share.tolist() == pytest.approx([0.5] * 3)
    assert un.unattributed_revenue.tolist() == pytest.approx([540.0] * 3)


def test_revenue_vs_target_by_quarter():
    con = make_store({**W5, "targets": [
        {"period_start": "2024-01-01", "period_end": "2024-03-31", "segment": "smb", "revenue_target": 1000, "pipeline_target": 2000},
        {"period_start": "2024-01-01", "period_end": "2024-03-31", "segment": "ent", "revenue_target": 1000, "pipeline_target": 2000},
        {"period_start": "2024-04-01", "period_end": "2024-06-30", "segment": "all", "revenue_target": 500, "pipeline_target": 900},
    ]})
    insert(con, "opportunities", [{"opportunity_id": "O3", "account_id": "A1", "revenue_type": "renewal", "amount": 50,
                                   "created_at": "2024-07-02", "is_closed": False, "is_won": False}])
    df = revenue_vs_target(con, "quarter").set_index("period")
    q1 = df.loc[pd.Timestamp("2024-01-01")]
    assert q1.revenue_target == 2000 and q1.won_revenue == pytest.approx(1540.0)
    assert q1.revenue_attainment == pytest.approx(0.77)
    assert q1.pipeline_created == pytest.approx(1540.0) and q1.opportunities_created == 2
    assert df.loc[pd.Timestamp("2024-04-01")].won_revenue == 0
    assert pd.isna(df.loc[pd.Timestamp("2024-07-01")].revenue_target)  # actuals without a target are kept
    assert revenue_vs_target(con, "year", revenue_type="renewal").pipeline_created.sum() == pytest.approx(50.0)
    with pytest.raises(ReportError):
        revenue_vs_target(con, "fortnight")


def test_write_table_formats(store, tmp_path):
    df = attribution_by(store, "channel", ["linear"])
    for suffix in (".csv", ".parquet", ".json"):
        write_table(df, tmp_path / f"r{suffix}")
    assert pd.read_csv(tmp_path / "r.csv")["linear"].sum() == pytest.approx(1540.0)
    assert pd.read_parquet(tmp_path / "r.parquet").shape == df.shape
    assert len(json.loads((tmp_path / "r.json").read_text())) == len(df)
    with pytest.raises(ReportError, match="xlsx"):
        write_table(df, tmp_path / "r.xlsx")


def test_cli_attribute_then_report(tmp_path):
    from revline.cli import app

    db = tmp_path / "s.duckdb"
    make_store(W5, str(db)).close()
    runner = CliRunner()
    res = runner.invoke(app, ["attribute", "--db", str(db), "--model", "w_shaped", "--model", "linear",
                              "--milestone", "won", "--milestone", "opportunity", "--revenue-type", "new_business"])
    assert res.exit_code == 0, res.output
    assert "4 attribution runs written" in res.output
    out = tmp_path / "r.csv"
    res = runner.invoke(app, ["report", "--db", str(db), "--by", "channel", "--models", "w_shaped", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "paid_search" in res.output
    assert pd.read_csv(out).set_index("channel").loc["paid_search", "w_shaped"] == pytest.approx(300.0)
    res = runner.invoke(app, ["attribute", "--db", str(db), "--model", "nope"])
    assert res.exit_code == 1 and "unknown model 'nope'" in res.output
    res = runner.invoke(app, ["report", "--db", str(db), "--milestone", "sql"])
    assert res.exit_code == 1 and "no conversions at milestone 'sql'" in res.output


@pytest.mark.parametrize("dimension", ["channel", "campaign", "touch_type", "month", "touch_position"])
@pytest.mark.parametrize("milestone, revenue_type", [("won", "new_business"), ("opportunity", "all"), ("lead", None), ("won", None)])
def test_sql_sums_equal_regrouped_ledger_rows(store, dimension, milestone, revenue_type):
    """attribution_by sums inside DuckDB; regrouping the row-level ledger in pandas agrees."""
    from revline.reports.tables import ledger_rows

    rows = ledger_rows(store, None, milestone, revenue_type)
    key = {"campaign": "campaign_id"}.get(dimension, dimension)
    rows[key] = rows[key].astype(object).where(rows[key].notna(), "(none)")
    want = rows.groupby([key, "model"])[["credit", "revenue_credit"]].sum()
    got = attribution_by(store, dimension, None, milestone, revenue_type, long=True)
    got = got.rename(columns={dimension: key}).set_index([key, "model"])
    assert len(got) == len(want) > 0
    for k, r in want.iterrows():
        assert got.loc[k, "conversions"] == pytest.approx(r.credit, abs=1e-12)
        assert got.loc[k, "revenue"] == pytest.approx(r.revenue_credit, abs=1e-9)

"""One read path: every API endpoint shows the number its CLI/report counterpart shows.

The store holds a USD deal, a EUR deal and a JPY deal of 100,000 each (the API used to add the
raw amounts: 300,000 where the reports said 208,670), a company target with regional rows
that break it down (the HTML report used to add them on top), spend and attribution runs. Expected
money is computed here from the rows and the published rates, never copied from an output.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from attribution_data import make_store
from typer.testing import CliRunner

from conftest import API_READ_KEY, API_WRITE_KEY
from revline.attribution import run_models
from revline.vocabulary import USD_RATES
from revline.journeys import build, funnel
from revline.reports.accounts import find_accounts
from revline.reports.revenue import revenue_vs_target, target_periods
from revline.reports.roi import roi_table
from revline.reports.tables import attribution_by, attribution_summary

H = {"Authorization": f"Bearer {API_READ_KEY}"}
MODELS = ["linear", "first_touch", "w_shaped"]
DEALS = [  # id, account, currency, revenue type, created, closed
    ("O1", "A1", "USD", "new_business", "2024-01-20", "2024-02-20"),
    ("O2", "A2", "EUR", "new_business", "2024-01-25", "2024-03-10"),
    ("O3", "A3", "JPY", "expansion", "2024-02-01", "2024-03-20"),
]
AMOUNT = 100_000.0
USD = {d[0]: AMOUNT * USD_RATES[d[2]] for d in DEALS}
COMPANY_TARGET = 400_000.0
TABLES = {
    "accounts": [{"account_id": a, "name": f"Account {a}"} for a in ("A1", "A2", "A3")],
    "people": [{"person_id": p, "account_id": a} for p, a in (("P1", "A1"), ("P2", "A2"), ("P3", "A3"))],
    "touchpoints": [
        {"touchpoint_id": "t1", "occurred_at": "2024-01-05", "person_id": "P1", "account_id": "A1",
         "channel": "paid_search", "campaign_id": "c1", "touch_type": "page_view"},
        {"touchpoint_id": "t2", "occurred_at": "2024-01-10", "person_id": "P2", "account_id": "A2",
         "channel": "email", "campaign_id": "c2", "touch_type": "email_click"},
        {"touchpoint_id": "t3", "occurred_at": "2024-01-12", "person_id": "P2", "account_id": "A2",
         "channel": "paid_search", "campaign_id": "c1", "touch_type": "page_view"},
        {"touchpoint_id": "t4", "occurred_at": "2024-01-28", "person_id": "P3", "account_id": "A3",
         "channel": "events", "touch_type": "event"},
    ],
    "milestones": [{"object_type": "person", "object_id": p, "person_id": p, "account_id": a, "milestone": "lead",
                    "occurred_at": "2024-01-06"} for p, a in (("P1", "A1"), ("P2", "A2"), ("P3", "A3"))],
    "opportunities": [{"opportunity_id": o, "account_id": a, "revenue_type": rt, "amount": AMOUNT, "currency": cur,
                       "created_at": created, "closed_at": closed, "is_closed": True, "is_won": True, "probability": 1.0}
                      for o, a, cur, rt, created, closed in DEALS],
    "spend": [{"date": "2024-01-15", "channel": "paid_search", "campaign_id": "c1", "spend": 20_000, "currency": "USD"},
              {"date": "2024-01-20", "channel": "email", "campaign_id": "c2", "spend": 10_000, "currency": "EUR"}],
    "targets": [  # the company target, and the regions it breaks down into (must not be added on top)
        {"period_start": "2024-01-01", "period_end": "2024-03-31", "segment": "all",
         "revenue_target": COMPANY_TARGET, "pipeline_target": 2 * COMPANY_TARGET},
        {"period_start": "2024-01-01", "period_end": "2024-03-31", "segment": "emea",
         "revenue_target": COMPANY_TARGET / 4, "pipeline_target": COMPANY_TARGET / 2},
        {"period_start": "2024-01-01", "period_end": "2024-03-31", "segment": "amer",
         "revenue_target": 3 * COMPANY_TARGET / 4, "pipeline_target": 3 * COMPANY_TARGET / 2},
    ],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    db = tmp_path_factory.mktemp("read-path") / "store.duckdb"
    con = make_store(TABLES, str(db))
    run_models(con, MODELS, ["won", "opportunity"])
    build(con)
    con.close()
    return db


@pytest.fixture(scope="module")
def con(store):
    import revline

    c = revline.connect(store, read_only=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def client(store, tmp_path_factory):
    import shutil

    from fastapi.testclient import TestClient

    from revline.api.app import close_app, create_app

    copy = tmp_path_factory.mktemp("read-path-api") / "store.duckdb"
    shutil.copy(store, copy)
    app = create_app(copy, write_key=API_WRITE_KEY, read_key=API_READ_KEY, warm=False, derive=False)
    with TestClient(app) as c:
        yield c
    close_app(app)


def _cli_table(store, tmp_path, *args: str) -> pd.DataFrame:
    """`revline report ... --out x.json` as the CLI writes it."""
    from revline.cli import app

    out = tmp_path / "out.json"
    res = CliRunner().invoke(app, ["report", "--db", str(store), *args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return pd.DataFrame(json.loads(out.read_text()))


def test_the_store_is_multi_currency():
    """The figure the issue found: three deals of 100,000 are 209,670 USD, not 300,000."""
    assert sum(USD.values()) == pytest.approx(100_000 + 108_000 + 670)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("milestone", ["won", "opportunity"])
@pytest.mark.parametrize("by", ["channel", "campaign", "touch_type", "month"])
def test_attribution_endpoint_equals_the_cli_report(client, store, con, tmp_path, model, milestone, by):
    api = client.get("/api/attribution", params={"model": model, "milestone": milestone, "by": by}, headers=H).json()
    cli = _cli_table(store, tmp_path, "--by", by, "--models", model, "--milestone", milestone, "--revenue-type", "all")
    assert api["total_revenue_credit"] == pytest.approx(sum(USD.values()))
    assert cli[model].sum() == pytest.approx(api["total_revenue_credit"])
    got = {r["key"]: r["revenue_credit"] for r in api["rows"]}
    if by == "month":
        want = {pd.Timestamp(k).strftime("%Y-%m"): v for k, v in zip(cli["month"], cli[model])}
    else:
        want = dict(zip(cli[by], cli[model]))
    assert got == pytest.approx(want)
    summary = attribution_summary(con, by, model, milestone, None)
    assert [r["conversions"] for r in api["rows"]] == summary["conversions"].tolist()


def test_attribution_by_revenue_type_reads_the_same_runs(client, con):
    for rt in ("new_business", "expansion"):
        api = client.get("/api/attribution", params={"model": "linear", "revenue_type": rt}, headers=H).json()
        report = attribution_by(con, "channel", ["linear"], "won", rt)
        want = sum(v for o, v in USD.items() if next(d[3] for d in DEALS if d[0] == o) == rt)
        assert api["total_revenue_credit"] == pytest.approx(report["linear"].sum()) == pytest.approx(want)


@pytest.mark.parametrize("model", MODELS)
def test_roi_endpoint_equals_the_cli_roi(client, store, con, tmp_path, model):
    api = client.get("/api/roi", params={"model": model}, headers=H).json()
    cli = _cli_table(store, tmp_path, "--roi", "--raw", "--models", model, "--revenue-type", "all").set_index("channel")
    rows = {r["channel"]: r for r in api["rows"]}
    assert set(rows) == set(cli.index)
    for channel, r in rows.items():
        assert r["spend"] == pytest.approx(cli.loc[channel, "spend"])
        assert r["attributed_revenue"] == pytest.approx(cli.loc[channel, "revenue"])
        assert r["attributed_pipeline"] == pytest.approx(cli.loc[channel, "pipeline"])
    spend_usd = 20_000 * USD_RATES["USD"] + 10_000 * USD_RATES["EUR"]
    assert api["total"]["spend"] == pytest.approx(spend_usd)
    assert api["total"]["attributed_revenue"] == pytest.approx(sum(USD.values()))
    assert api["total"]["roi"] == pytest.approx((sum(USD.values()) - spend_usd) / spend_usd)
    table = roi_table(con, model, "won", None)
    assert api["total"]["attributed_revenue"] == pytest.approx(table["revenue"].sum())


def test_kpis_equal_the_report_figures(client, con):
    k = client.get("/api/kpis", params={"model": "linear"}, headers=H).json()
    rvt = revenue_vs_target(con, "quarter")
    assert k["revenue"] == pytest.approx(rvt["won_revenue"].sum()) == pytest.approx(sum(USD.values()))
    assert k["pipeline"] == pytest.approx(rvt["pipeline_created"].sum()) == pytest.approx(sum(USD.values()))
    assert k["revenue_target"] == pytest.approx(COMPANY_TARGET)  # the regions are not added on top
    assert k["pipeline_target"] == pytest.approx(2 * COMPANY_TARGET)
    roi = client.get("/api/roi", params={"model": "linear"}, headers=H).json()["total"]
    assert (k["spend"], k["attributed_revenue"]) == pytest.approx((roi["spend"], roi["attributed_revenue"]))


def test_revenue_vs_target_endpoint_equals_the_report(client, con):
    api = client.get("/api/revenue-vs-target", headers=H).json()["rows"]
    rvt = revenue_vs_target(con, "quarter")
    assert len(api) == len(rvt) == 1
    row, q1 = api[0], rvt.iloc[0]
    assert row["revenue"] == pytest.approx(q1.won_revenue) == pytest.approx(sum(USD.values()))
    assert row["revenue_target"] == pytest.approx(q1.revenue_target) == pytest.approx(COMPANY_TARGET)
    assert row["revenue_attainment"] == pytest.approx(q1.revenue_attainment)
    assert row["revenue_attainment"] == pytest.approx(sum(USD.values()) / COMPANY_TARGET)
    emea = client.get("/api/revenue-vs-target", params={"segment": "emea"}, headers=H).json()["rows"]
    assert [r["revenue_target"] for r in emea] == pytest.approx([COMPANY_TARGET / 4])
    assert target_periods(con, "emea")["revenue"].tolist() == pytest.approx([r["revenue"] for r in emea])


def test_accounts_show_won_revenue_in_usd(client, con):
    api = {a["account_id"]: a["won_revenue"] for a in client.get("/api/accounts", headers=H).json()["accounts"]}
    want = {a: USD[o] for o, a, *_ in DEALS}
    assert api == pytest.approx(want)
    assert dict(zip(*find_accounts(con, "").pipe(lambda d: (d.account_id, d.won_revenue)))) == pytest.approx(want)
    journey = client.get("/api/accounts/A2/journey", headers=H).json()
    assert journey["account"]["won_revenue"] == pytest.approx(USD["O2"])


def test_funnel_and_models_endpoints_equal_their_reports(client, con):
    api = client.get("/api/funnel", headers=H).json()["stages"]
    table = funnel(con)
    assert [(s["stage"], s["count"]) for s in api] == list(zip(table["stage"].astype(str), table["count"]))
    runs = client.get("/api/models", headers=H).json()["runs"]
    want = con.execute("SELECT run_id FROM attribution_runs").fetchall()
    assert sorted(r["run_id"] for r in runs) == sorted(r for (r,) in want)


def test_html_report_headline_and_targets_in_usd(con):
    from revline.reports.html import _kpis, _money, _target_figure

    tiles = dict(_kpis(con))
    assert tiles["New-business revenue won"] == _money(USD["O1"] + USD["O2"])
    assert tiles["Expansion won"] == _money(USD["O3"])
    assert tiles["Marketing spend"] == _money(20_000 + 10_000 * USD_RATES["EUR"])
    fig = _target_figure(revenue_vs_target(con, "quarter"))
    axes = {t.name: (t.yaxis or "y") for t in fig.data}
    assert axes == {"revenue_target": "y", "won_revenue": "y", "pipeline_target": "y", "pipeline_created": "y",
                    "revenue_attainment": "y2", "pipeline_attainment": "y2"}  # no ratios or counts on the USD axis

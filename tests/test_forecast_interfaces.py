"""The forecast's interfaces: GET /api/forecast, `revline forecast`, the report section, the
dashboard panel, and marketing's share (reports.forecast). Expected numbers are derived from
conftest.API_FIXTURE's rows, never typed in."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
from conftest import API_FIXTURE, API_READ_KEY

from revline.store import connect

AUTH = {"Authorization": f"Bearer {API_READ_KEY}"}


def _target(start: str) -> float:
    return sum(t[3] for t in API_FIXTURE["targets"] if t[0] == start and t[2] == "all")


def _won(start: str, end: str) -> float:
    return sum(o[3] for o in API_FIXTURE["opportunities"] if o[7] and o[5] and start <= o[5][:10] < end)


def test_api_forecast_against_the_fixture_targets(api_client):
    client, _ = api_client
    r = client.get("/api/forecast", params={"quarter": "2026-Q1", "as_of": "2026-03-20"}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] == "2026-03-20" and body["quarters"] == ["2026-Q1", "2026-Q2"]
    q1, q2 = body["vs_target"]
    assert q1["target"] == pytest.approx(_target("2026-01-01")) and q2["target"] == pytest.approx(_target("2026-04-01"))
    assert q1["won_to_date"] == pytest.approx(_won("2026-01-01", "2026-03-20"))
    assert q1["p10"] <= q1["p50"] <= q1["p90"] and q1["p10"] >= q1["won_to_date"] - 1e-6
    assert q1["gap"] == pytest.approx(q1["target"] - q1["p50"])
    totals = {f["quarter"]: f for f in body["forecast"] if f["revenue_type"] == "total"}
    assert totals["2026-Q1"]["p50"] == pytest.approx(q1["p50"])
    # cached: the same request on the unchanged store gives the same body
    assert client.get("/api/forecast", params={"quarter": "2026-Q1", "as_of": "2026-03-20"}, headers=AUTH).json() == body


def test_api_forecast_errors(api_client):
    client, _ = api_client
    assert client.get("/api/forecast").status_code == 401
    late = client.get("/api/forecast", params={"quarter": "2026-Q1", "as_of": "2026-05-01"}, headers=AUTH)
    assert late.status_code == 404 and "2026-Q1" in late.json()["detail"]
    assert client.get("/api/forecast", params={"quarter": "Q1-2026"}, headers=AUTH).status_code == 422


def test_marketing_share_cost_per_pipeline_from_spend_and_ledger(api_store):
    """Cost per pipeline dollar = the channel's spend / the new-business pipeline the linear model
    credits it with (touch dates in the lookback window), both taken from the fixture's rows."""
    from revline.models.forecast import forecast_store
    from revline.models.forecast.model import ForecastConfig
    from revline.reports.forecast import marketing_share

    con = connect(api_store, read_only=True)
    fc = forecast_store(con, date(2026, 3, 20), config=ForecastConfig(n_sims=500, n_boot=2))
    share = marketing_share(con, fc, model="linear", lookback_days=180)
    f = API_FIXTURE
    amount = {o[0]: o[3] for o in f["opportunities"] if o[2] == "new_business"}
    touch = {t[0]: t for t in f["touchpoints"]}
    pipeline: dict[str, float] = {}
    for opp, tps in f["ledger"]["linear"]["opportunity"].items():
        for tp in tps if opp in amount else []:
            pipeline[touch[tp][4]] = pipeline.get(touch[tp][4], 0.0) + amount[opp] / len(tps)
    spend = {s[1]: s[3] for s in f["spend"]}
    got = share.channels.set_index("channel")
    expected = {c: spend[c] / pipeline[c] for c in spend if c in pipeline}
    assert set(got.index) == set(expected)
    for c, cost in expected.items():
        assert got.loc[c, "cost_per_pipeline"] == pytest.approx(cost)
    assert share.target == pytest.approx(_target("2026-01-01"))
    if share.gap is not None and share.gap > 0 and share.pipeline_yield > 0:
        assert share.pipeline_needed == pytest.approx(share.gap / share.pipeline_yield)
        assert got["pipeline_needed"].sum() == pytest.approx(share.pipeline_needed)
    con.close()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "revline", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "120"}, timeout=300)


def test_cli_forecast_and_its_errors(api_store):
    ok = _cli("forecast", "--db", str(api_store), "--quarter", "2026-Q1", "--as-of", "2026-03-20")
    assert ok.returncode == 0, ok.stderr
    assert "Bookings forecast as of 2026-03-20" in ok.stdout and "2026-Q2" in ok.stdout
    assert f"{_target('2026-01-01'):,.0f}" in ok.stdout
    bad = _cli("forecast", "--db", str(api_store), "--quarter", "Q3 2026")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "2026-Q3" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    bt = _cli("forecast", "--db", str(api_store), "--backtest")
    assert bt.returncode == 0 and "too little history" in bt.stdout


def test_report_section(api_store):
    from revline.models.forecast.report import html_section

    con = connect(api_store, read_only=True)
    sid, title, body = html_section(con)
    assert sid == "forecast" and "Bookings forecast" in title and "<table>" in body
    con.close()
    empty = connect(":memory:")
    assert html_section(empty) is None


def test_panel_first_on_the_dashboard(api_client):
    client, _ = api_client
    client.cookies.set("rl_read_key", API_READ_KEY)
    page = client.get("/dashboard").text
    assert 'id="forecast"' in page and "/static/panels/top-forecast.js" in page
    assert page.index('id="forecast"') < page.index('id="in-market"')  # the first panel a CRO sees


def test_view_crosses_the_hub_codec(api_store):
    """With `revline serve` running the CLI gets the view through the job codec: it must come back whole."""
    import json

    from revline.ops.codec import decode, encode
    from revline.ops.forecast import forecast

    con = connect(api_store, read_only=True)
    view = forecast(con, quarter="2026-Q1", as_of="2026-03-20", n_sims=500)
    back = decode(json.loads(json.dumps(encode(view))))
    assert back.as_of == view.as_of and back.quarters == view.quarters
    assert back.table.equals(view.table) and back.vs_target.equals(view.vs_target)
    assert back.marketing.channels.equals(view.marketing.channels)
    con.close()

"""Read API: auth, validation, and numbers that follow from the fixture rows (tests/conftest.py)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import API_FIXTURE, API_READ_KEY, API_WRITE_KEY

H = {"Authorization": f"Bearer {API_READ_KEY}"}
F = API_FIXTURE
TOUCH = {t[0]: t for t in F["touchpoints"]}
OPP = {o[0]: o for o in F["opportunities"]}


def _expected_by(model: str, milestone: str, dim_index: int, opps=None) -> dict[str, float]:
    """Revenue credit per touch dimension, computed from the fixture's ledger paths."""
    out: dict[str, float] = defaultdict(float)
    for opp, tps in F["ledger"][model][milestone].items():
        if opps is not None and opp not in opps:
            continue
        amount = OPP[opp][3]
        if not tps:
            out["(unattributed)"] += amount
        for tp in tps:
            out[TOUCH[tp][dim_index]] += amount / len(tps)
    return dict(out)


@pytest.mark.parametrize("path", ["/api/models", "/api/attribution", "/api/roi", "/api/funnel",
                                  "/api/revenue-vs-target", "/api/kpis", "/api/accounts", "/api/accounts/A1/journey"])
def test_every_read_endpoint_needs_the_read_key(api_client, path):
    client, _ = api_client
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, auth=(API_WRITE_KEY, "")).status_code == 401  # the write key never reads
    assert client.get(path, headers=H).status_code == 200


def test_key_as_query_parameter_and_cookie(api_client):
    client, _ = api_client
    assert client.get(f"/api/models?key={API_READ_KEY}").status_code == 200
    client.cookies.set("rl_read_key", API_READ_KEY)
    assert client.get("/api/models").status_code == 200


def test_models_lists_the_runs(api_client):
    client, _ = api_client
    body = client.get("/api/models", headers=H).json()
    assert body["models"] == sorted(F["ledger"])
    pairs = {(r["model"], r["milestone"]) for r in body["runs"]}
    assert pairs == {(m, ms) for m, mss in F["ledger"].items() for ms in mss}


@pytest.mark.parametrize("model", sorted(F["ledger"]))
@pytest.mark.parametrize("by,index", [("channel", 4), ("campaign", 5), ("touch_type", 6)])
def test_attribution_matches_the_ledger(api_client, model, by, index):
    client, _ = api_client
    body = client.get("/api/attribution", params={"model": model, "by": by}, headers=H).json()
    got = {r["key"]: r["revenue_credit"] for r in body["rows"]}
    expected = {("(none)" if k is None else k): v for k, v in _expected_by(model, "won", index).items()}
    assert got == pytest.approx(expected)
    won = sum(o[3] for o in F["opportunities"] if o[7])
    assert body["total_revenue_credit"] == pytest.approx(won)
    assert sum(r["share"] for r in body["rows"]) == pytest.approx(1.0)


def test_model_switch_changes_the_answer(api_client):
    client, _ = api_client
    linear = client.get("/api/attribution?model=linear", headers=H).json()["rows"]
    first = client.get("/api/attribution?model=first_touch", headers=H).json()["rows"]
    assert {r["key"] for r in first} < {r["key"] for r in linear}


def test_unattributed_opportunities_are_reported_not_dropped(api_client):
    client, _ = api_client
    body = client.get("/api/attribution?model=linear&milestone=opportunity", headers=H).json()
    got = {r["key"]: r["revenue_credit"] for r in body["rows"]}
    assert got["(unattributed)"] == pytest.approx(sum(OPP[o][3] for o, t in F["ledger"]["linear"]["opportunity"].items() if not t))
    assert body["total_revenue_credit"] == pytest.approx(sum(o[3] for o in F["opportunities"]))


def test_revenue_type_and_date_window_filter(api_client):
    client, _ = api_client
    body = client.get("/api/attribution", params={"milestone": "opportunity", "revenue_type": "expansion"}, headers=H).json()
    assert body["total_revenue_credit"] == pytest.approx(sum(o[3] for o in F["opportunities"] if o[2] == "expansion"))
    # won deals closed in Q1 only (the close date is the conversion date of `won`)
    q1 = client.get("/api/attribution", params={"start": "2026-01-01", "end": "2026-03-31"}, headers=H).json()
    in_q1 = {o[0] for o in F["opportunities"] if o[7] and o[5] < "2026-04-01"}
    assert q1["total_revenue_credit"] == pytest.approx(sum(OPP[o][3] for o in in_q1))
    assert {r["key"]: r["revenue_credit"] for r in q1["rows"]} == pytest.approx(_expected_by("linear", "won", 4, in_q1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.dates(date(2025, 12, 1), date(2026, 5, 1)), days=st.integers(0, 160),
       by=st.sampled_from(["channel", "campaign", "touch_type", "month"]), model=st.sampled_from(sorted(F["ledger"])))
def test_totals_do_not_depend_on_the_grouping(api_client, start, days, by, model):
    """Invariant: whatever the dimension, revenue credit in a window sums to the won amounts closed in it."""
    client, _ = api_client
    end = start + timedelta(days=days)
    body = client.get("/api/attribution", params={"model": model, "by": by, "start": str(start), "end": str(end)},
                      headers=H).json()
    lo, hi = datetime.combine(start, datetime.min.time()), datetime.combine(end + timedelta(days=1), datetime.min.time())
    won = sum(o[3] for o in F["opportunities"] if o[7] and lo <= datetime.fromisoformat(o[5]) < hi)
    assert sum(r["revenue_credit"] for r in body["rows"]) == pytest.approx(won)


def test_roi_per_channel(api_client):
    client, _ = api_client
    body = client.get("/api/roi?model=linear", headers=H).json()
    revenue = _expected_by("linear", "won", 4)
    spend = defaultdict(float)
    for s in F["spend"]:
        spend[s[1]] += s[3]
    rows = {r["channel"]: r for r in body["rows"]}
    for channel, cost in spend.items():
        assert rows[channel]["spend"] == pytest.approx(cost)
        assert rows[channel]["roi"] == pytest.approx((revenue.get(channel, 0.0) - cost) / cost)
    assert rows["webinar"]["roi"] is None  # no spend: ROI undefined, not infinite
    assert body["total"]["spend"] == pytest.approx(sum(spend.values()))


def test_funnel_is_the_journeys_funnel(api_client):
    """Accounts per stage: an account reaching `won` has passed every earlier stage."""
    client, _ = api_client
    body = client.get("/api/funnel", headers=H).json()
    stages = {s["stage"]: s for s in body["stages"]}
    won_accounts = {o[1] for o in F["opportunities"] if o[7] and o[2] == "new_business"}
    assert stages["won"]["count"] == len(won_accounts)
    assert stages["lead"]["count"] >= stages["won"]["count"]
    # A1: opportunity O1 created 2026-02-01, won 2026-03-15 (42 days); A2: O2 2026-02-20 -> 2026-04-10 (49)
    assert stages["opportunity"]["median_days_in_stage"] == pytest.approx((42 + 49) / 2)
    # one account funnel: the dashboard's panel and the level funnel at account level show the same figures
    level = client.get("/api/funnel?level=account", headers=H).json()
    for s, r in zip(body["stages"], [r for r in level["stages"] if r["key"] == "all"], strict=True):
        assert (s["stage"], s["count"], s["out_of_order"]) == (r["stage"], r["count"], r["out_of_order"])
        assert s["median_days_in_stage"] == pytest.approx(r["days_median"], nan_ok=True)
        assert s["conversion_to_next"] == pytest.approx(r["conversion_to_next"], nan_ok=True)
    counts = [s["count"] for s in body["stages"]]
    assert counts == sorted(counts, reverse=True)  # reached-or-later counting never grows
    assert client.get("/api/funnel?revenue_type=upsell", headers=H).status_code == 422


def test_revenue_vs_target(api_client):
    client, _ = api_client
    rows = client.get("/api/revenue-vs-target", headers=H).json()["rows"]
    assert len(rows) == len(F["targets"])
    for row, target in zip(rows, F["targets"]):
        won = sum(o[3] for o in F["opportunities"] if o[7] and target[0] <= o[5][:10] <= target[1])
        assert row["revenue"] == pytest.approx(won)
        assert row["revenue_target"] == target[3]
        assert row["revenue_attainment"] == pytest.approx(won / target[3])


def test_kpis_agree_with_the_other_endpoints(api_client):
    client, _ = api_client
    k = client.get("/api/kpis?model=first_touch", headers=H).json()
    roi = client.get("/api/roi?model=first_touch", headers=H).json()["total"]
    assert k["roi"] == pytest.approx(roi["roi"]) and k["spend"] == pytest.approx(roi["spend"])
    assert k["revenue"] == pytest.approx(sum(o[3] for o in F["opportunities"] if o[7]))


def test_account_search_escapes_like_wildcards(api_client):
    client, _ = api_client
    assert [a["account_id"] for a in client.get("/api/accounts?search=acme", headers=H).json()["accounts"]] == ["A1"]
    assert [a["account_id"] for a in client.get("/api/accounts?search=100%_", headers=H).json()["accounts"]] == ["A3"]
    only_literal = client.get("/api/accounts", params={"search": "%"}, headers=H).json()["accounts"]
    assert [a["account_id"] for a in only_literal] == ["A3"]  # an unescaped % would match every account
    assert client.get("/api/accounts", params={"search": "_x"}, headers=H).json()["accounts"] == []
    injected = client.get("/api/accounts", params={"search": "x' OR '1'='1"}, headers=H)
    assert injected.status_code == 200 and injected.json()["accounts"] == []


def test_account_journey_in_time_order(api_client):
    client, _ = api_client
    body = client.get("/api/accounts/A1/journey", headers=H).json()
    touches = [e["ref"] for e in body["events"] if e["kind"] == "touch"]
    assert touches == [t[0] for t in F["touchpoints"] if t[3] == "A1"]
    times = [e["occurred_at"] for e in body["events"]]
    assert times == sorted(times)
    stages = [e["label"] for e in body["events"] if e["kind"] == "stage"]
    assert "won" in stages and "lead" in stages
    assert client.get("/api/accounts/NOPE/journey", headers=H).status_code == 404
    assert client.get("/api/accounts/acme.com/journey", headers=H).status_code == 404  # ids only, no domain lookup


@pytest.mark.parametrize("query", ["milestone=closed", "by=week", "revenue_type=upsell", "start=2026-13-01",
                                   "end=yesterday", "model=bad%20name", "model=" + "x" * 65])
def test_invalid_parameters_get_422_with_a_reason(api_client, query):
    client, _ = api_client
    r = client.get(f"/api/attribution?{query}", headers=H)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][0] == "query"


def test_unknown_model_is_404_naming_the_available_ones(api_client):
    client, _ = api_client
    r = client.get("/api/attribution?model=markov", headers=H)
    assert r.status_code == 404 and "linear" in r.json()["detail"]


def test_limit_bounds(api_client):
    client, _ = api_client
    assert client.get("/api/accounts?limit=0", headers=H).status_code == 422
    assert len(client.get("/api/accounts?limit=2", headers=H).json()["accounts"]) == 2


def test_openapi_documents_auth_and_collector(api_client):
    client, _ = api_client
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {"readKeyBearer", "readKeyQuery", "readKeyCookie", "writeKeyBasic"} <= set(schemes)
    assert {"/v1/track", "/v1/batch", "/api/attribution"} <= set(spec["paths"])
    assert "/dashboard" not in spec["paths"]


def test_cached_results_follow_a_new_model_run(api_client):
    """The result cache is keyed by a store fingerprint: a new run is visible at once."""
    import pandas as pd

    from revline.attribution.ledger import write_ledger

    client, app = api_client
    before = client.get("/api/attribution?model=linear", headers=H).json()
    assert client.get("/api/attribution?model=linear", headers=H).json() == before  # served from the cache
    t1 = TOUCH["T1"]
    rows = pd.DataFrame([dict(conversion_id=o[0], touchpoint_id="T1", credit=1.0, revenue_credit=o[3],
                              channel=t1[4], campaign_id=t1[5], revenue_type=o[2])
                         for o in F["opportunities"] if o[7]])
    cur = app.state.con.cursor()
    write_ledger(cur, rows, model="linear", milestone="won", revenue_type=None)
    after = client.get("/api/attribution?model=linear", headers=H).json()
    assert {r["key"] for r in after["rows"]} == {t1[4]}
    assert after["total_revenue_credit"] == pytest.approx(before["total_revenue_credit"])


def test_generated_keys_are_stored_and_reused(tmp_path, monkeypatch):
    from revline.api.app import close_app, create_app

    monkeypatch.delenv("REVLINE_WRITE_KEY", raising=False)
    monkeypatch.delenv("REVLINE_READ_KEY", raising=False)
    db = tmp_path / "keys.duckdb"
    first = create_app(db, warm=False)
    keys = first.state.keys
    close_app(first)
    assert set(keys.generated) == {"write", "read"} and keys.write != keys.read
    again = create_app(db, warm=False)
    assert (again.state.keys.write, again.state.keys.read, again.state.keys.generated) == (keys.write, keys.read, ())
    close_app(again)
    monkeypatch.setenv("REVLINE_READ_KEY", "from-env-0123456789")
    env = create_app(db, warm=False)
    assert env.state.keys.read == "from-env-0123456789" and env.state.keys.write == keys.write
    close_app(env)

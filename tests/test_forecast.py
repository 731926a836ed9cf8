"""revline.models.forecast: quarters, the landmark survival estimate, the as-of cut, intervals, baselines.

Hand-made stores are built here; expected numbers come from the rows the test writes."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.models.forecast import baselines, survival
from revline.models.forecast.data import load, open_deals
from revline.models.forecast.model import TOTAL, ForecastConfig, forecast_snapshot
from revline.models.forecast.quarters import Quarter, parse_quarter, quarter_of
from revline.models.forecast.run import forecast_store
from revline.store import connect

FAST = ForecastConfig(n_sims=800, n_boot=4)


def test_quarters_parse_and_bounds():
    q = parse_quarter("2026-Q3")
    assert (q.start, q.end) == (date(2026, 7, 1), date(2026, 9, 30))
    assert str(q.next()) == "2026-Q4" and str(Quarter(2026, 4).next()) == "2027-Q1"
    assert quarter_of(date(2026, 2, 28)) == Quarter(2026, 1) and parse_quarter("2025q1") == Quarter(2025, 1)
    with pytest.raises(ValueError, match="2026-Q3"):
        parse_quarter("Q3 2026")


def _store(tmp_path, deals):
    """deals: (id, account, type, amount, created, closed or None, won)."""
    con = connect(tmp_path / "s.duckdb")
    con.executemany(
        "INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, created_at, closed_at, "
        "is_closed, is_won) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(i, a, t, amt, c, cl, cl is not None, won) for i, a, t, amt, c, cl, won in deals])
    return con


def _half_won_at_30_lost_at_60(n=40, start=datetime(2025, 1, 6)):
    out = []
    for i in range(n):
        c = start + timedelta(days=2 * i)
        won = i % 2 == 0
        out.append((f"O{i}", f"A{i}", "new_business", 1000.0, c, c + timedelta(days=30 if won else 60), won))
    return out


def test_landmark_estimate_recovers_time_to_close(tmp_path):
    """Half the deals win at 30 days, half are lost at 60: a fresh deal wins within 20 days with
    probability 0, within 45 with 1/2; a deal 45 days old has far lower odds (the winners closed at 30;
    only the kernel's smoothing over age keeps it above 0)."""
    con = _store(tmp_path, _half_won_at_30_lost_at_60())
    snap = load(con, date(2025, 8, 1))
    lm = survival.landmarks(snap, half_life_days=None)
    p0 = survival.new_deal_win_within(lm, "new_business", np.array([20.0, 45.0, 100.0]))
    assert p0 == pytest.approx([0.0, 0.5, 0.5])
    old = survival.win_within(lm, "new_business", np.array(["opportunity"]), np.array([45.0]), np.array([45.0]),
                              np.array([100.0]))
    assert old[0, 0] < 0.5 * p0[2]
    narrow = survival.win_within(lm, "new_business", np.array(["opportunity"]), np.array([45.0]), np.array([45.0]),
                                 np.array([100.0]), bandwidth=0.05)
    assert narrow[0, 0] == pytest.approx(0.0, abs=1e-6)
    young = survival.win_within(lm, "new_business", np.array(["opportunity"]), np.array([7.0]), np.array([7.0]),
                                np.array([15.0, 30.0]))
    assert young[0, 1] > 0.3 and young[0, 0] < young[0, 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.5, 200), st.sampled_from([0, 1, 2]), st.floats(0.01, 5)), min_size=1, max_size=40),
       st.lists(st.floats(0, 250), min_size=1, max_size=6))
def test_cumulative_incidence_is_a_probability_increasing_in_horizon(rows, horizons):
    r = np.array([x[0] for x in rows])
    order = np.argsort(r, kind="stable")
    ev = np.array([x[1] for x in rows])[order]
    w = np.array([x[2] for x in rows])[order]
    h = np.sort(np.array(horizons))
    cif = survival._aalen_johansen(r[order], ev, w, h)[0]
    assert np.all(cif >= -1e-12) and np.all(cif <= 1 + 1e-12)
    assert np.all(np.diff(cif) >= -1e-12)
    # without censoring the estimate is the plain weighted share of deals won by the horizon
    closed = np.where(ev == survival.CENSORED, survival.LOST, ev)
    full = survival._aalen_johansen(r[order], closed, w, np.array([r.max()]))[0, 0]
    assert full == pytest.approx(w[closed == survival.WON].sum() / w.sum())


def test_cut_hides_outcomes_and_deals_after_as_of(tmp_path):
    deals = _half_won_at_30_lost_at_60()
    con = _store(tmp_path, deals)
    as_of = date(2025, 2, 20)
    snap = load(con, as_of)
    cut = pd.Timestamp(as_of)
    created = [d for d in deals if d[4] < cut]
    assert len(snap.deals) == len(created)
    closed_before = {d[0] for d in created if d[5] < cut}
    assert set(snap.deals.dropna(subset=["closed_at"])["opportunity_id"]) == closed_before
    assert set(open_deals(snap)["opportunity_id"]) == {d[0] for d in created} - closed_before


def test_interval_sanity_mid_quarter(tmp_path):
    con = _store(tmp_path, _half_won_at_30_lost_at_60(n=120, start=datetime(2024, 10, 1)))
    snap = load(con, date(2025, 5, 15))  # mid-quarter: some of the quarter is already won
    f = forecast_snapshot(snap, config=FAST)
    t = f.table
    assert list(t["quarter"].unique()) == ["2025-Q2", "2025-Q3"]
    assert (t["p10"] <= t["p50"]).all() and (t["p50"] <= t["p90"]).all()
    assert (t["won_to_date"] <= t["p10"] + 1e-6).all()  # bookings never fall below what is already won
    q2 = t[(t.quarter == "2025-Q2") & (t.revenue_type == "new_business")].iloc[0]
    won = sum(d[3] for d in _half_won_at_30_lost_at_60(n=120, start=datetime(2024, 10, 1))
              if d[6] and datetime(2025, 4, 1) <= d[5] < datetime(2025, 5, 15))
    assert q2["won_to_date"] == pytest.approx(won) and won > 0
    for q in ("2025-Q2", "2025-Q3"):
        parts = t[(t.quarter == q) & (t.revenue_type != TOTAL)]["mean"].sum()
        assert t[(t.quarter == q) & (t.revenue_type == TOTAL)]["mean"].iloc[0] == pytest.approx(parts)
        assert np.all(f.samples[(q, TOTAL)] >= 0)


def test_baselines_from_rows(tmp_path):
    con = _store(tmp_path, [
        ("W1", "A1", "new_business", 100.0, datetime(2024, 10, 1), datetime(2024, 11, 10), True),
        ("W2", "A2", "new_business", 300.0, datetime(2025, 1, 5), datetime(2025, 2, 14), True),
        ("L1", "A3", "new_business", 500.0, datetime(2025, 1, 5), datetime(2025, 2, 1), False),
        ("O1", "A4", "new_business", 1000.0, datetime(2025, 3, 10), None, False),
        ("O2", "A5", "expansion", 200.0, datetime(2025, 3, 20), None, False),
    ])
    con.execute("UPDATE opportunities SET probability = 0.25, stage = 'Proposal' WHERE opportunity_id = 'O1'")
    # the stage as of the cut comes from the stage history (the column holds today's stage)
    con.execute("INSERT INTO stage_events VALUES ('opportunity', 'O1', 'proposal', TIMESTAMP '2025-03-20 00:00:00', 'x')")
    snap = load(con, date(2025, 4, 1))
    q = [Quarter(2025, 2)]
    sw = baselines.stage_weighted(snap, q, baselines.stage_probabilities(con))
    # O1: proposal at the CRM's 0.25 (median cycle 40 days: expected 2025-04-19, in Q2); O2: expansion,
    # no history of that type -> 90-day default (2025-06-18, in Q2), 'opportunity' stage at Salesforce's 0.1
    assert sw.set_index("revenue_type").loc["new_business", "mean"] == pytest.approx(250.0)
    assert sw.set_index("revenue_type").loc["expansion", "mean"] == pytest.approx(20.0)
    rr = baselines.run_rate(snap, q).set_index("revenue_type")
    assert rr.loc["new_business", "mean"] == pytest.approx((100.0 + 300.0) / 2)  # two complete quarters


@pytest.mark.slow
def test_as_of_replay_never_sees_the_future(simulated_company, tmp_path):
    """Adding a deal created after as_of, closing an open deal after it and moving stages after it
    change nothing in the forecast as of that day (retention's renewals included)."""
    db, _, _ = simulated_company("default", "small", 11)
    copy = tmp_path / "store.duckdb"
    shutil.copy(db, copy)
    con = connect(copy)
    as_of = date(2026, 1, 1)
    before = forecast_store(con, as_of, config=FAST).table
    opened = open_deals(load(con, as_of))
    victim = opened["opportunity_id"].iloc[0]
    con.execute("UPDATE opportunities SET is_closed = TRUE, is_won = TRUE, closed_at = TIMESTAMP '2026-01-02 10:00:00' "
                "WHERE opportunity_id = ?", [victim])
    con.execute("INSERT INTO stage_events VALUES ('opportunity', ?, 'negotiation_review', TIMESTAMP '2026-01-01 09:00:00', 'test')",
                [victim])
    acc = con.execute("SELECT account_id FROM opportunities WHERE revenue_type = 'renewal' LIMIT 1").fetchone()[0]
    for i, rt in enumerate(("new_business", "renewal", "expansion")):
        con.execute("INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, currency, created_at, "
                    "closed_at, is_closed, is_won) VALUES (?, ?, ?, 5e6, 'USD', TIMESTAMP '2026-01-01 00:00:00', "
                    "TIMESTAMP '2026-01-20 00:00:00', TRUE, TRUE)", [f"FUTURE{i}", acc, rt])
    after = forecast_store(con, as_of, config=FAST).table
    pd.testing.assert_frame_equal(before, after)
    assert forecast_store(con, date(2026, 1, 2), config=FAST).table.equals(before) is False  # the cut moves with as_of


def test_large_history_is_sampled_per_type_reproducibly(tmp_path):
    con = _store(tmp_path, _half_won_at_30_lost_at_60(n=80))
    snap = load(con, date(2025, 8, 1))
    a = survival.landmarks(snap, max_deals=30).table
    b = survival.landmarks(snap, max_deals=30).table
    assert a["opportunity_id"].nunique() == 30 and a.equals(b)
    full = survival.landmarks(snap).table
    assert full["opportunity_id"].nunique() == 80
    p = survival.new_deal_win_within(survival.Landmarks(a), "new_business", np.array([100.0]))[0]
    assert 0.25 < p < 0.75  # a sample of the half-won history

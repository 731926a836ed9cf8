"""Stored in-market scores and the alert rule (revline.ops.scores): upserts, upward crossings only,
one alert per account per cool-down (persisted), failed alerts not holding it; property tests of
the rule over random score sequences."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.ops.scores import AlertRule, crossings, hottest, pending_alerts, record_delivery, store_scores
from revline.store import connect

T0 = datetime(2026, 3, 1, 12, 0, 0)


def _scores(**by_account: float) -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": list(by_account), "account_name": None, "score": list(by_account.values()),
        "baseline_points": [10.0 * i for i in range(len(by_account))], "kind": "new_business",
        "reasons": [[f"{a} viewed pricing", "2 people this week"] for a in by_account],
        "scored_at": pd.Timestamp(T0)})


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "s.duckdb")
    c.executemany("INSERT INTO accounts (account_id, name) VALUES (?, ?)", [("A1", "Acme"), ("A2", "Globex"), ("A3", None)])
    yield c
    c.close()


def test_scores_are_replaced_per_account_and_listed_highest_first(con):
    store_scores(con, _scores(A1=0.2, A2=0.7))
    store_scores(con, _scores(A1=0.9))
    rows = hottest(con, 10)
    assert [(r["account_id"], r["account_name"], r["score"]) for r in rows] == [("A1", "Acme", 0.9), ("A2", "Globex", 0.7)]
    assert rows[0]["reasons"] == ["A1 viewed pricing", "2 people this week"] and rows[0]["kind"] == "new_business"
    assert hottest(con, 1) == rows[:1]
    assert hottest(con, 10, kind="expansion") == []


def test_a_bad_frame_is_refused_and_writes_nothing(con):
    with pytest.raises(ValueError, match="not a probability"):
        store_scores(con, _scores(A1=1.5))
    with pytest.raises(ValueError, match="score_at|scored_at"):
        store_scores(con, _scores(A1=0.5).drop(columns="scored_at"))
    assert hottest(con) == []


def test_an_upward_crossing_fires_once_per_cooldown(con):
    rule = AlertRule(threshold=0.5, cooldown=timedelta(days=7))
    first = store_scores(con, _scores(A1=0.3, A2=0.6), rule, now=T0)  # A2 had no score: that is a crossing
    assert [a.account_id for a in first] == ["A2"] == [a.account_id for a in pending_alerts(con)]
    # A1 crosses: one alert with its score, previous score and reasons
    (alert,) = store_scores(con, _scores(A1=0.8), rule, now=T0 + timedelta(hours=1))
    assert (alert.account_id, alert.account_name, alert.score, alert.previous_score) == ("A1", "Acme", 0.8, 0.3)
    assert alert.reasons == ["A1 viewed pricing", "2 people this week"]
    # staying above: no new alert; dropping and crossing again within the cool-down: none either
    assert store_scores(con, _scores(A1=0.9), rule, now=T0 + timedelta(hours=2)) == []
    assert store_scores(con, _scores(A1=0.1), rule, now=T0 + timedelta(days=1)) == []
    assert store_scores(con, _scores(A1=0.7), rule, now=T0 + timedelta(days=2)) == []
    # after the cool-down, the next crossing fires again
    store_scores(con, _scores(A1=0.2), rule, now=T0 + timedelta(days=8))
    (again,) = store_scores(con, _scores(A1=0.6), rule, now=T0 + timedelta(days=8, hours=1))
    assert again.previous_score == 0.2
    assert con.execute("SELECT count(*) FROM score_alerts WHERE account_id = 'A1'").fetchone()[0] == 2


def test_a_given_up_alert_does_not_hold_the_cooldown_but_a_sent_one_does(con):
    rule = AlertRule(threshold=0.5, cooldown=timedelta(days=7))
    store_scores(con, _scores(A1=0.1, A2=0.1), rule, now=T0)
    a1, a2 = (store_scores(con, _scores(**{acc: 0.9}), rule, now=T0)[0] for acc in ("A1", "A2"))
    record_delivery(con, [(a1.alert_id, "failed", 5, "HTTP 500", None), (a2.alert_id, "sent", 2, None, T0)])
    assert pending_alerts(con) == []
    store_scores(con, _scores(A1=0.1, A2=0.1), rule, now=T0 + timedelta(hours=1))
    fired = store_scores(con, _scores(A1=0.9, A2=0.9), rule, now=T0 + timedelta(hours=2))
    assert [a.account_id for a in fired] == ["A1"]
    status = dict(con.execute("SELECT alert_id, status FROM score_alerts").fetchall())
    assert status[a1.alert_id] == "failed" and status[a2.alert_id] == "sent" and status[fired[0].alert_id] == "pending"


def test_the_cooldown_survives_a_reopened_store(tmp_path):
    db = tmp_path / "r.duckdb"
    rule = AlertRule(threshold=0.5, cooldown=timedelta(days=1))
    con = connect(db)
    store_scores(con, _scores(A1=0.9), rule, now=T0)
    store_scores(con, _scores(A1=0.1), rule, now=T0)
    con.close()
    con = connect(db)
    try:
        assert [a.account_id for a in pending_alerts(con)] == ["A1"]
        assert store_scores(con, _scores(A1=0.9), rule, now=T0 + timedelta(hours=23)) == []
        assert len(store_scores(con, _scores(A1=0.1), rule, now=T0 + timedelta(hours=25)) +
                   store_scores(con, _scores(A1=0.95), rule, now=T0 + timedelta(hours=25))) == 1
        assert json.loads(con.execute("SELECT reasons FROM account_scores").fetchone()[0])[0] == "A1 viewed pricing"
    finally:
        con.close()


# ------------------------------------------------------------------ properties of the rule
scores_st = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(previous=st.dictionaries(st.sampled_from("abcdef"), st.one_of(st.none(), scores_st)),
       new=st.dictionaries(st.sampled_from("abcdef"), scores_st), threshold=scores_st,
       cooling=st.sets(st.sampled_from("abcdef")))
def test_crossings_are_exactly_the_upward_ones_outside_the_cooldown(previous, new, threshold, cooling):
    fired = crossings(previous, new, threshold, cooling)
    for account, score in new.items():
        before = previous.get(account)
        expected = score >= threshold and (before is None or before < threshold) and account not in cooling
        assert (account in fired) == expected
    assert len(fired) == len(set(fired))


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(["A1", "A2"]), scores_st, st.integers(0, 48)), max_size=25),
       threshold=st.floats(0.05, 0.95), cooldown_h=st.integers(1, 72))
def test_over_any_score_sequence_alerts_are_at_least_a_cooldown_apart(tmp_path_factory, steps, threshold, cooldown_h):
    con = connect(tmp_path_factory.mktemp("prop") / "p.duckdb")
    try:
        rule = AlertRule(threshold=threshold, cooldown=timedelta(hours=cooldown_h))
        now, last = T0, {}
        expected = []
        for account, score, gap in steps:
            now += timedelta(hours=gap)
            before = last.get(account)
            fired = store_scores(con, _scores(**{account: score}), rule, now=now)
            should = (score >= threshold and (before is None or before < threshold)
                      and not [t for a, t in expected if a == account and t > now - rule.cooldown])
            if should:
                expected.append((account, now))
            assert [a.account_id for a in fired] == ([account] if should else [])
            last[account] = score
        got = con.execute("SELECT account_id, fired_at FROM score_alerts ORDER BY fired_at, account_id").fetchall()
        assert sorted(got) == sorted(expected)
        for account in ("A1", "A2"):
            times = [t for a, t in got if a == account]
            assert all(b - a >= rule.cooldown for a, b in zip(times, times[1:]))
    finally:
        con.close()

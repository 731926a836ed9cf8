"""The incremental refresh of the rule-model runs (`refresh_accounts`) equals a full re-run.

After touches of some accounts are added (backdated: before their conversions), rewriting only
those accounts' conversions in the existing runs must give exactly the ledger a full re-run with
the same parameters gives, leave every other conversion's rows as they were, keep the ledger
invariants, and roll back whole when a step fails.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from attribution_data import insert, make_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_attribution_properties import ALL_MODELS, CHANNELS, T0, journeys

from revline.attribution import run_models
from revline.attribution.ledger import check_run
from revline.attribution.runner import refresh_accounts

MILESTONES = ["won", "opportunity", "lead", "mql"]
KEY = ["model", "milestone", "revenue_type", "conversion_id", "touchpoint_id"]


def _ledger(con) -> pd.DataFrame:
    """Every ledger row without its run id, sorted for comparison."""
    df = con.execute(
        "SELECT model, milestone, coalesce(revenue_type, '-') AS revenue_type, conversion_id, conversion_type, "
        "coalesce(touchpoint_id, '-') AS touchpoint_id, credit, revenue_credit, coalesce(channel, '-') AS channel, "
        "coalesce(campaign_id, '-') AS campaign_id, coalesce(touch_position, '-') AS touch_position, "
        "occurred_at FROM credit_ledger").df()
    return df.sort_values(KEY).reset_index(drop=True)


def _runs(con) -> pd.DataFrame:
    return con.execute(
        "SELECT model, milestone, coalesce(revenue_type, '-') AS revenue_type, params, opportunities, unattributed "
        "FROM attribution_runs ORDER BY 1, 2, 3").df()


def _conversions_of(con, account: str) -> set[str]:
    rows = con.execute(
        "SELECT opportunity_id FROM opportunities WHERE account_id = ? UNION SELECT person_id FROM people "
        "WHERE account_id = ? UNION SELECT ?", [account, account, account]).fetchall()
    return {r[0] for r in rows}


@st.composite
def backdated(draw, tables: dict) -> tuple[str, list[dict]]:
    """One account and 1-3 new touches of it, anywhere in the journeys' time range."""
    accounts = sorted({p["account_id"] for p in tables["people"]})
    account = draw(st.sampled_from(accounts))
    people = [p["person_id"] for p in tables["people"] if p["account_id"] == account]
    touches = []
    for i in range(draw(st.integers(1, 3))):
        who = draw(st.sampled_from([*people, None]))
        touches.append({
            "touchpoint_id": f"new{i}", "occurred_at": T0 + timedelta(hours=draw(st.integers(0, 24 * 70))),
            "person_id": who, "account_id": account, "channel": draw(st.sampled_from(CHANNELS)),
            "campaign_id": draw(st.sampled_from(["c1", "c9", None])), "touch_type": "page_view"})
    return account, touches


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=journeys(), data=st.data(), scope=st.sampled_from(["account", "person"]),
       lookback=st.sampled_from([None, 20.0]), weighted=st.booleans())
def test_refresh_of_the_affected_accounts_equals_a_full_rerun(tables, data, scope, lookback, weighted):
    con = make_store(tables)
    params = dict(scope=scope, lookback_days=lookback, weighted=weighted, half_life_days=5.0)
    run_models(con, ALL_MODELS, MILESTONES, None, **params)  # the runs as `revline attribute` writes them
    account, touches = data.draw(backdated(tables))
    insert(con, "touchpoints", touches)
    before = _ledger(con)

    result = refresh_accounts(con, [account])

    assert result.skipped == () and result.runs == len(con.execute("SELECT * FROM attribution_runs").fetchall())
    incremental, incremental_runs = _ledger(con), _runs(con)
    for (run_id,) in con.execute("SELECT run_id FROM attribution_runs").fetchall():
        check_run(con, run_id)  # per conversion: credits sum to 1
    # only the account's conversions changed
    mine = _conversions_of(con, account)
    untouched = lambda df: df[~df.conversion_id.isin(mine)].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(untouched(before), untouched(incremental), check_dtype=False)

    run_models(con, ALL_MODELS, MILESTONES, None, **params)  # the full re-run on the same store
    pd.testing.assert_frame_equal(incremental, _ledger(con), check_exact=False, rtol=1e-12, atol=1e-9,
                                  check_dtype=False)
    pd.testing.assert_frame_equal(incremental_runs, _runs(con))
    con.close()


def test_a_backdated_touch_takes_its_share_of_the_conversion():
    tables = {
        "people": [{"person_id": "P1", "account_id": "A1"}, {"person_id": "P2", "account_id": "A2"}],
        "touchpoints": [
            {"touchpoint_id": "t1", "occurred_at": T0, "person_id": "P1", "account_id": "A1", "channel": "email"},
            {"touchpoint_id": "t2", "occurred_at": T0, "person_id": "P2", "account_id": "A2", "channel": "email"}],
        "opportunities": [
            {"opportunity_id": f"O{a}", "account_id": f"A{a}", "revenue_type": "new_business", "amount": 900,
             "created_at": T0 + timedelta(days=10), "closed_at": T0 + timedelta(days=20), "is_closed": True,
             "is_won": True} for a in (1, 2)],
    }
    con = make_store(tables)
    run_models(con, ["linear"], ["won"], ["all"])
    (created,) = con.execute("SELECT created_at FROM attribution_runs").fetchone()
    insert(con, "touchpoints", [{"touchpoint_id": "t3", "occurred_at": T0 + timedelta(days=5), "person_id": "P1",
                                 "account_id": "A1", "channel": "paid_search"}])
    result = refresh_accounts(con, ["A1"])
    assert (result.runs, result.conversions) == (1, 1)
    credit = dict(con.execute("SELECT touchpoint_id, revenue_credit FROM credit_ledger WHERE conversion_id = 'O1'").fetchall())
    assert credit == pytest.approx({"t1": 450.0, "t3": 450.0})
    assert con.execute("SELECT touchpoint_id FROM credit_ledger WHERE conversion_id = 'O2'").fetchall() == [("t2",)]
    (refreshed,) = con.execute("SELECT created_at FROM attribution_runs").fetchone()
    assert refreshed >= created  # readers and the API's result cache see a new as-of time
    con.close()


def test_hand_written_and_custom_runs_are_left_to_a_full_run(api_store):
    import revline

    con = revline.connect(api_store)
    before = _ledger(con)
    result = refresh_accounts(con, ["A1"])
    n_runs = con.execute("SELECT count(*) FROM attribution_runs").fetchone()[0]
    assert result.runs == 0 and len(result.skipped) == n_runs > 0
    pd.testing.assert_frame_equal(before, _ledger(con), check_dtype=False)
    con.close()


def test_a_failing_refresh_leaves_the_ledger_as_it_was(monkeypatch):
    import revline.attribution.runner as runner

    tables = {
        "people": [{"person_id": "P1", "account_id": "A1"}],
        "touchpoints": [{"touchpoint_id": "t1", "occurred_at": T0, "person_id": "P1", "account_id": "A1",
                         "channel": "email"}],
        "opportunities": [{"opportunity_id": "O1", "account_id": "A1", "revenue_type": "new_business",
                           "amount": 100, "created_at": T0 + timedelta(days=1), "closed_at": T0 + timedelta(days=2),
                           "is_closed": True, "is_won": True}],
    }
    con = make_store(tables)
    run_models(con, ["linear", "first_touch"], ["won"], ["all"])
    insert(con, "touchpoints", [{"touchpoint_id": "t2", "occurred_at": T0, "person_id": "P1", "account_id": "A1",
                                 "channel": "webinar"}])
    before, runs_before = _ledger(con), _runs(con)
    real, calls = runner.rewrite_conversions, []

    def second_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("injected failure after the first run was rewritten")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "rewrite_conversions", second_fails)
    with pytest.raises(ValueError, match="injected"):
        refresh_accounts(con, ["A1"])
    pd.testing.assert_frame_equal(before, _ledger(con), check_dtype=False)
    pd.testing.assert_frame_equal(runs_before, _runs(con))
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_rl_%'").fetchone()[0] == 0
    con.close()

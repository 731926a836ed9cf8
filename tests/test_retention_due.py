"""renewals_due: the contract book as known on a date (the bookings forecast depends on it)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revline.models.retention import renewals_due
from revline.models.retention.due import COLUMNS, bookings_distribution, due_with_draws
from revline.store import connect
from revline.vocabulary import USD_RATES

AS_OF = date(2025, 12, 1)
WINDOW = (date(2026, 1, 1), date(2026, 3, 31))

# id, account, type, amount, currency, created, closed (None: open), won
OPPS = [
    ("oA1", "A", "new_business", 10000, "USD", "2024-11-01 10:00", "2025-01-10", True),
    ("oB1", "B", "new_business", 10000, "EUR", "2024-12-01 10:00", "2025-02-15", True),
    ("oB2", "B", "expansion", 2000, "USD", "2025-04-01 09:00", "2025-06-01", True),
    ("oC1", "C", "new_business", 9000, "USD", "2023-12-01 10:00", "2024-02-01", True),
    ("oC2", "C", "renewal", 12000, "USD", "2024-12-03 10:00", "2025-02-01", True),
    ("oD1", "D", "new_business", 7000, "USD", "2024-01-05 10:00", "2024-03-01", True),
    ("oD2", "D", "renewal", 7000, "USD", "2024-12-31 15:00", "2025-03-01", False),
    ("oE1", "E", "renewal", 5000, "GBP", "2025-11-20 11:00", None, False),  # a customer from before the records
    ("oF1", "F", "new_business", 8000, "USD", "2025-03-01 10:00", "2025-06-01", True),
    ("oG1", "G", "new_business", 6000, "USD", "2025-10-01 10:00", "2025-12-15", True),  # won after as_of
    ("oH1", "H", "new_business", 4000, "USD", "2025-01-01 10:00", "2025-02-20", False),  # a lost prospect
]


def _store(path, opps=OPPS, touches=()):
    con = connect(path)
    accounts = sorted({o[1] for o in opps} | {t[1] for t in touches})
    con.executemany("INSERT INTO accounts (account_id, name, industry, employees, country) VALUES (?, ?, ?, ?, ?)",
                    [(a, f"Acct {a}", "Software", 120, "Germany") for a in accounts])
    con.executemany("INSERT INTO people (person_id, account_id) VALUES (?, ?)", [(f"p{a}", a) for a in accounts])
    for oid, acc, typ, amount, cur, created, closed, won in opps:
        con.execute(
            "INSERT INTO opportunities (opportunity_id, account_id, revenue_type, amount, currency, created_at, closed_at, "
            "is_closed, is_won) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [oid, acc, typ, amount, cur, created, closed, closed is not None, bool(won) and closed is not None])
    for i, (ts, acc) in enumerate(touches):
        con.execute("INSERT INTO touchpoints (touchpoint_id, occurred_at, person_id, account_id, channel) VALUES (?, ?, ?, ?, ?)",
                    [f"t{i}", ts, f"p{acc}", acc, "email"])
    return con


def _one_year(d: str) -> date:
    t = pd.Timestamp(d)
    return (t + pd.DateOffset(years=1)).date()


def test_contracts_due_in_the_window_as_known_on_as_of(tmp_path):
    con = _store(tmp_path / "s.duckdb")
    df = renewals_due(con, AS_OF, *WINDOW)
    assert list(df.columns) == COLUMNS
    by = df.set_index("account_id")
    # A, B, C from their term starts; E from its open renewal (created + the lead measured on C's and D's
    # closed renewals, both 60 days); D churned, F is due later, G was not a customer yet, H never was
    lead = round(np.median([(pd.Timestamp(c).normalize() - pd.Timestamp(o).normalize()).days
                            for _, _, t, _, _, o, c, _ in OPPS if t == "renewal" and c]))
    assert set(by.index) == {"A", "B", "C", "E"}
    assert by.loc["A", "due_date"] == _one_year("2025-01-10")
    assert by.loc["B", "due_date"] == _one_year("2025-02-15")
    assert by.loc["C", "due_date"] == _one_year("2025-02-01")
    assert by.loc["E", "due_date"] == (pd.Timestamp("2025-11-20") + timedelta(days=lead)).date()
    assert by.loc["A", "arr_usd"] == pytest.approx(10000 * USD_RATES["USD"])
    assert by.loc["B", "arr_usd"] == pytest.approx(10000 * USD_RATES["EUR"] + 2000)  # the expansion raised it
    assert by.loc["C", "arr_usd"] == pytest.approx(12000)  # the renewed value, not the first deal's
    assert by.loc["E", "arr_usd"] == pytest.approx(5000 * USD_RATES["GBP"])
    assert (df["p_low"] <= df["p_renew"]).all() and (df["p_renew"] <= df["p_high"]).all()
    assert df[["p_low", "p_high"]].stack().between(0, 1).all()
    assert np.allclose(df["expected_usd"], df["p_renew"] * df["arr_usd"])
    assert df["due_date"].is_monotonic_increasing


def test_outcomes_after_as_of_are_not_known(tmp_path):
    later = OPPS + [("oA2", "A", "renewal", 11000, "USD", "2025-11-11 10:00", "2026-01-10", False)]
    con = _store(tmp_path / "s.duckdb", later)
    before = renewals_due(con, date(2025, 11, 11), *WINDOW)  # the renewal is created later that day
    during = renewals_due(con, date(2025, 11, 12), *WINDOW)
    after = renewals_due(con, date(2026, 1, 11), *WINDOW)
    assert before.set_index("account_id").loc["A", "arr_usd"] == pytest.approx(10000)
    assert during.set_index("account_id").loc["A", "arr_usd"] == pytest.approx(11000)  # the open renewal's value
    assert "A" not in set(after["account_id"])  # lost on 2026-01-10: churned, nothing left to renew
    g = dict(zip(during.account_id, during.due_date))
    assert g["A"] == _one_year("2025-01-10")


def test_a_window_spanning_two_anniversaries_compounds_the_probability(tmp_path):
    con = _store(tmp_path / "s.duckdb")
    d = due_with_draws(con, AS_OF, date(2026, 1, 1), date(2027, 3, 31))
    a = d.frame[d.frame.account_id == "A"].sort_values("due_date")
    assert list(a["renewal_no_ahead"]) == [1, 2]
    assert a["p_renew"].iloc[1] < a["p_renew"].iloc[0]
    assert a["p_renew"].iloc[1] == pytest.approx(float(np.mean(d.p_draws[a.index[0]] ** 2)))


def test_engagement_raises_the_renewal_probability_when_the_history_says_so(tmp_path):
    # 30 closed renewals: engaged accounts renewed, quiet ones churned; then two open contracts
    opps, touches = [], []
    for i in range(30):
        acc, engaged = f"R{i:02d}", i % 3 != 0
        opps.append((f"n{i}", acc, "new_business", 5000, "USD", "2023-01-01 10:00", "2024-01-15", True))
        opps.append((f"r{i}", acc, "renewal", 5000, "USD", "2024-11-16 10:00", "2025-01-15", engaged))
        touches += [(datetime(2024, 10, 1) + timedelta(days=k), acc) for k in range(12 if engaged else 0)]
    for acc, n in (("Q", 0), ("E", 15)):
        opps.append((f"n{acc}", acc, "new_business", 5000, "USD", "2024-11-01 10:00", "2025-02-01", True))
        touches += [(datetime(2025, 11, 1) + timedelta(days=k), acc) for k in range(n)]
    con = _store(tmp_path / "s.duckdb", opps, touches)
    df = renewals_due(con, AS_OF, *WINDOW).set_index("account_id")
    assert df.loc["E", "p_renew"] > df.loc["Q", "p_renew"] + 0.3
    assert df.loc["E", "p_low"] > df.loc["Q", "p_high"]


def test_bookings_distribution_brackets_the_expectation(tmp_path):
    con = _store(tmp_path / "s.duckdb")
    d = due_with_draws(con, AS_OF, *WINDOW)
    b = bookings_distribution(d)
    assert b["mean"] == pytest.approx(d.frame["expected_usd"].sum())
    assert 0 <= b["p10"] <= b["p50"] <= b["p90"] <= d.frame["renewal_usd"].sum() + 1e-6
    assert b["count_p90"] <= len(d.frame)


def test_an_empty_store_has_nothing_due(tmp_path):
    con = connect(tmp_path / "e.duckdb")
    df = renewals_due(con, AS_OF, *WINDOW)
    assert list(df.columns) == COLUMNS and df.empty


future_opp = st.tuples(
    st.sampled_from(["A", "B", "C", "E", "F", "Z"]),
    st.sampled_from(["new_business", "renewal", "expansion", "contraction"]),
    st.integers(1, 90_000), st.integers(0, 400), st.integers(0, 200), st.booleans(), st.booleans())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(future_opp, max_size=6))
def test_anything_created_after_as_of_changes_nothing(tmp_path_factory, extra):
    base = renewals_due(_store(tmp_path_factory.mktemp("a") / "s.duckdb"), AS_OF, *WINDOW)
    rows = list(OPPS)
    t0 = pd.Timestamp(AS_OF)
    for i, (acc, typ, amount, d_created, d_close, closed, won) in enumerate(extra):
        created = t0 + pd.Timedelta(days=d_created, hours=1)
        close = (created + pd.Timedelta(days=d_close)).strftime("%Y-%m-%d") if closed else None
        rows.append((f"x{i}", acc, typ, amount, "USD", created.strftime("%Y-%m-%d %H:%M"), close, won))
    again = renewals_due(_store(tmp_path_factory.mktemp("b") / "s.duckdb", rows), AS_OF, *WINDOW)
    pd.testing.assert_frame_equal(base, again)


def test_dated_rates_convert_at_the_close_date_known_then(tmp_path):
    con = _store(tmp_path / "s.duckdb")
    con.executemany("INSERT INTO fx_rates (date, currency, rate, source) VALUES (?, ?, ?, 'test')",
                    [("2025-01-01", "EUR", 1.02), ("2025-02-10", "EUR", 1.10), ("2025-03-01", "EUR", 1.20)])
    by = renewals_due(con, AS_OF, *WINDOW).set_index("account_id")
    assert by.loc["B", "arr_usd"] == pytest.approx(10000 * 1.10 + 2000)  # B's deal closed 2025-02-15
    assert by.loc["E", "arr_usd"] == pytest.approx(5000 * USD_RATES["GBP"])  # no dated GBP rate: the default


def test_outlook_splits_the_renewals_due_by_quarter(tmp_path):
    from revline.models.retention.due import outlook

    con = _store(tmp_path / "s.duckdb")
    o = outlook(con, AS_OF, date(2026, 1, 1), 4)
    whole = renewals_due(con, AS_OF, date(2026, 1, 1), date(2026, 12, 31))
    assert o["contracts"].sum() == len(whole)
    assert o["expected_usd"].sum() == pytest.approx(whole["expected_usd"].sum())
    assert o["arr_usd"].sum() == pytest.approx(whole["arr_usd"].sum())
    assert (o["p10_usd"] <= o["p90_usd"]).all()
    q2 = renewals_due(con, AS_OF, date(2026, 4, 1), date(2026, 6, 30))
    assert o.loc[1, "contracts"] == len(q2) and o.loc[1, "expected_usd"] == pytest.approx(q2["expected_usd"].sum())

"""GRR, NRR, logo churn, expansion and contraction by cohort and segment."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revline.models.retention.metrics import METRIC_COLUMNS, quarterly_retention, retention_table
from revline.vocabulary import USD_RATES
from test_retention_due import OPPS, _store

AS_OF = date(2025, 12, 1)  # the trailing year: 2024-12-01 .. 2025-11-30


def test_cohort_table_from_hand_made_contracts(tmp_path):
    con = _store(tmp_path / "s.duckdb")
    t = retention_table(con, AS_OF, by="cohort").set_index("cohort")
    assert list(t.columns) == METRIC_COLUMNS
    # base on 2024-12-01: C (won 2024-02-01 at 9000) and D (won 2024-03-01 at 7000), both cohort 2024-Q1;
    # A, B, F were won inside the year (new business, not retention), E has no value on record before
    q = t.loc["2024-Q1"]
    assert q["customers"] == 2 and q["arr_start"] == pytest.approx(9000 + 7000)
    assert q["churned"] == 1 and q["churn_usd"] == pytest.approx(7000)  # D's renewal was lost
    assert q["expansion_usd"] == pytest.approx(12000 - 9000)  # C renewed at 12000
    assert q["arr_end"] == pytest.approx(12000)
    assert q["grr"] == pytest.approx(9000 / 16000) and q["nrr"] == pytest.approx(12000 / 16000)
    assert q["logo_churn"] == pytest.approx(0.5)
    assert t.loc["all", "customers"] == 2


def test_an_expansion_then_a_contraction(tmp_path):
    opps = OPPS + [("oB3", "B", "contraction", 5000, "USD", "2025-08-01 09:00", "2025-09-01", True)]
    con = _store(tmp_path / "s.duckdb", opps)
    t = retention_table(con, date(2026, 3, 1), by="cohort", months=12).set_index("cohort")
    b0 = 10000 * USD_RATES["EUR"]  # B won 2025-02-15: in the base of the year from 2025-03-01
    row = t.loc["2025-Q1"]
    assert row["arr_start"] == pytest.approx(b0 + 10000)  # A (2025-01-10) and B
    # B: +2000 then -5000 -> net contraction 3000; A: nothing changed yet (due 2026-01-10, no renewal on record)
    assert row["contraction_usd"] == pytest.approx(3000) and row["expansion_usd"] == pytest.approx(0)
    assert row["grr"] == pytest.approx((b0 + 10000 - 3000) / (b0 + 10000))


def test_segments_label_every_customer(tmp_path):
    con = _store(tmp_path / "s.duckdb")
    for by in ("industry", "size_band", "region"):
        t = retention_table(con, AS_OF, by=by)
        assert t.iloc[-1][by] == "all"
        assert t.iloc[:-1]["customers"].sum() == t.iloc[-1]["customers"]
    assert set(retention_table(con, AS_OF, by="region")["region"]) == {"EMEA", "all"}  # Germany
    with pytest.raises(ValueError, match="choose one of"):
        retention_table(con, AS_OF, by="planet")


def test_quarterly_series_and_empty_store(tmp_path):
    con = _store(tmp_path / "s.duckdb")
    q = quarterly_retention(con, date(2026, 1, 15), quarters=3)
    assert list(q["quarter_end"]) == [date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 31)]
    assert (q["grr"] <= q["nrr"] + 1e-12).all()
    from revline.store import connect

    empty = connect(tmp_path / "e.duckdb")
    assert retention_table(empty, AS_OF).empty and quarterly_retention(empty, AS_OF).empty


deal = st.tuples(st.sampled_from(["new_business", "renewal", "expansion", "contraction"]),
                 st.integers(1000, 50_000), st.integers(0, 700), st.booleans())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 5), deal), min_size=1, max_size=25))
def test_retention_identities_hold_for_any_history(tmp_path_factory, history):
    opps = []
    t0 = pd.Timestamp("2024-01-01")
    for i, (acc, (typ, amount, day, won)) in enumerate(history):
        created = t0 + pd.Timedelta(days=day, hours=9)
        opps.append((f"o{i}", f"A{acc}", typ, amount, "USD", created.strftime("%Y-%m-%d %H:%M"),
                     (created + pd.Timedelta(days=30)).strftime("%Y-%m-%d"), won))
    con = _store(tmp_path_factory.mktemp("h") / "s.duckdb", opps)
    t = retention_table(con, date(2026, 1, 1), by="cohort")
    if t.empty:
        return
    a = t.iloc[-1]
    assert a["arr_start"] - a["churn_usd"] - a["contraction_usd"] + a["expansion_usd"] == pytest.approx(a["arr_end"], abs=1e-6)
    assert a["grr"] <= 1 + 1e-12 and a["grr"] <= a["nrr"] + 1e-12 and 0 <= a["logo_churn"] <= 1
    assert t.iloc[:-1][["customers", "churned"]].sum().tolist() == [a["customers"], a["churned"]]
    assert np.isclose(t.iloc[:-1]["arr_start"].sum(), a["arr_start"])


def test_regions_are_the_reports_regions(tmp_path):
    """Retention's region of an account is revline.vocabulary's, the one the reports' segment filter
    uses: a country the table does not know is 'other' (not EMEA), none is 'unknown'."""
    from revline.models.retention.features import account_segments
    from revline.vocabulary import region_sql

    con = _store(tmp_path / "s.duckdb")
    ids = con.execute("SELECT account_id FROM accounts ORDER BY account_id").fetchall()
    countries = ["Germany", "Atlantis", None, " ", "jp", "Brazil", "usa", "Peru"]
    for (acc,), country in zip(ids, countries, strict=False):
        con.execute("UPDATE accounts SET country = ? WHERE account_id = ?", [country, acc])
    got = account_segments(con).set_index("account_id")["region"].to_dict()
    want = dict(con.execute(f"SELECT account_id, {region_sql('country')} FROM accounts").fetchall())
    assert got == want
    assert {"other", "unknown", "EMEA", "APAC", "LATAM", "NA"} <= set(got.values())
    t = retention_table(con, AS_OF, by="region")
    assert set(t["region"]) <= {"NA", "EMEA", "APAC", "LATAM", "other", "unknown", "all"}

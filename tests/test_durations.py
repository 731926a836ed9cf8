"""Durations that cannot be negative (#23.3): a date-only close on the creation day, stage ties in
funnel order, funnel velocity; checked on the Olist shape and as a hypothesis property."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_exports import write
from revline.ingest import load_files
from revline.journeys.funnel import funnel
from revline.journeys.timeline import STAGE_ORDER
from revline.ops.stitch import stitch
from revline.store import connect

DEAL_HEADER = ["Deal ID", "Deal Stage", "Amount", "Create Date", "Close Date", "Associated Company ID", "Deal Type"]


def _company(folder, deals, contacts=()):
    folder.mkdir(parents=True, exist_ok=True)
    accounts = sorted({d[5] for d in deals})
    write(folder / "hubspot-companies.csv", ["Record ID", "Company name", "Company Domain Name"],
          [(a, f"Co {a}", f"{a.lower()}.com") for a in accounts])
    write(folder / "hubspot-contacts.csv", ["Record ID", "Email", "Associated Company ID", "Create Date",
                                            "Became a Marketing Qualified Lead Date", "Original Source"],
          list(contacts) or [(f"P{a}", f"p@{a.lower()}.com", a, "2018-01-01 08:00", "", "Organic Search") for a in accounts])
    write(folder / "hubspot-deals.csv", DEAL_HEADER, deals)
    return folder


def test_same_day_date_only_close_is_not_before_creation(tmp_path):
    """Olist: created 10:30, closed '2018-01-02' (midnight) -> won at the creation time, listed after it."""
    con = connect(tmp_path / "s.duckdb")
    deals = [("D1", "closedwon", "100", "2018-01-02 10:30", "2018-01-02", "A1", "New Business"),
             ("D2", "closedwon", "200", "2018-01-02 10:30", "2018-01-05", "A2", "New Business")]
    report = load_files(con, [_company(tmp_path / "hs", deals)])
    got = dict(con.execute("SELECT opportunity_id, closed_at::VARCHAR FROM opportunities").fetchall())
    assert got == {"D1": "2018-01-02 10:30:00", "D2": "2018-01-05 00:00:00"}
    assert any("1 deal(s) closed on the day they were created" in n for n in report.notes)
    stitch(con)
    rows = con.execute("SELECT milestone FROM milestones WHERE object_type = 'opportunity' AND object_id = 'D1' "
                       "ORDER BY occurred_at, CASE milestone WHEN 'opportunity' THEN 0 ELSE 1 END").fetchall()
    assert [r[0] for r in rows] == ["opportunity", "won"]
    from revline.journeys.timeline import timeline

    tl = timeline(con, "A1")
    ms = [m for m in tl["milestone"].tolist() if isinstance(m, str)]
    assert ms == sorted(ms, key=STAGE_ORDER.index)  # every milestone of D1's account in funnel order
    con.close()


_day = st.datetimes(min_value=datetime(2018, 1, 1), max_value=datetime(2018, 3, 1))


@pytest.mark.slow  # ~40 s: an ingest and a stitch per example
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.lists(st.tuples(_day, st.integers(-3, 30), st.booleans(), st.booleans(), st.integers(-2, 5)),
                min_size=1, max_size=6))
def test_property_no_duration_is_negative(tmp_path_factory, deals):
    """Any create/close/MQL dates (date-only or not, close before creation too): every milestone
    follows the stages before it and every funnel velocity is >= 0."""
    folder = tmp_path_factory.mktemp("d")
    rows, contacts = [], []
    for i, (created, days, won, with_time, mql_days) in enumerate(deals):
        closed = created + timedelta(days=days)
        close_txt = closed.strftime("%Y-%m-%d %H:%M") if with_time else closed.strftime("%Y-%m-%d")
        acc = f"A{i}"
        rows.append((f"D{i}", "closedwon" if won else "closedlost", "100", created.strftime("%Y-%m-%d %H:%M"),
                     close_txt, acc, "New Business"))
        mql = (created + timedelta(days=mql_days)).strftime("%Y-%m-%d")
        contacts.append((f"P{i}", f"p{i}@a{i}.com", acc, created.strftime("%Y-%m-%d %H:%M"), mql, "Organic Search"))
    con = connect(folder / "s.duckdb")
    try:
        load_files(con, [_company(folder / "hs", rows, contacts)])
        stitch(con)
        bad = con.execute(
            "SELECT o.object_id, o.occurred_at, w.occurred_at FROM milestones o JOIN milestones w "
            "ON w.object_type = o.object_type AND w.object_id = o.object_id "
            "WHERE o.object_type IN ('opportunity', 'account') AND o.milestone = 'opportunity' AND w.milestone = 'won' "
            "AND w.occurred_at < o.occurred_at").fetchall()
        assert bad == []
        neg = con.execute("SELECT count(*) FROM opportunities WHERE closed_at < created_at").fetchone()[0]
        assert neg == 0
        f = funnel(con, revenue_type="new_business")
        v = f["days_median"].dropna()
        assert (v >= 0).all(), f
    finally:
        con.close()


def test_stage_rank_puts_ties_in_funnel_order():
    import duckdb

    from revline.journeys.timeline import stage_rank_sql

    rows = duckdb.sql(f"SELECT m FROM (VALUES ('won'), ('sql'), ('opportunity'), ('lead'), ('mql'), (NULL)) t(m) "
                      f"ORDER BY {stage_rank_sql('m')}").fetchall()
    assert [r[0] for r in rows] == [None, "lead", "mql", "sql", "opportunity", "won"]



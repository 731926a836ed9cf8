"""Dated FX (#23.6): every amount converts at the latest rate on or before its date, the shipped
defaults where no dated rate covers it; checked against an independent computation in Python."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attribution_data import insert
from revline.ingest import load_files
from revline.reports.revenue import actuals, revenue_vs_target
from revline.reports.roi import spend_by
from revline.store import connect, ibis_backend
from revline.store.fx import load_rates, opportunities_usd_sql, usd_ibis
from revline.vocabulary import USD_RATES

# two currencies whose rates change over time; BRL has no rate before 2018-03-01 (defaults apply)
RATES = [
    (date(2018, 1, 1), "EUR", 1.20), (date(2018, 2, 1), "EUR", 1.25), (date(2018, 3, 15), "EUR", 1.10),
    (date(2018, 3, 1), "BRL", 0.30), (date(2018, 4, 1), "BRL", 0.27),
]
# id, amount, currency, created, closed (None: open), won
OPPS = [
    ("o1", 1000.0, "EUR", datetime(2018, 1, 10, 9), datetime(2018, 2, 1, 0), True),     # rate changes between
    ("o2", 2000.0, "BRL", datetime(2018, 2, 10, 9), datetime(2018, 3, 31, 23), True),   # default at creation
    ("o3", 500.0, "USD", datetime(2018, 1, 5), datetime(2018, 4, 2), True),
    ("o4", 800.0, "EUR", datetime(2017, 12, 1), datetime(2018, 3, 14, 23, 59), True),  # before the first rate
    ("o5", 300.0, "BRL", datetime(2018, 4, 20), None, False),                          # open pipeline
    ("o6", 100.0, "GBP", datetime(2018, 2, 2), datetime(2018, 2, 20), True),           # no dated rate at all
]


def rate_on(cur: str, day: date, rates=RATES) -> float | None:
    """The independent rule: latest dated rate on or before `day`, else the default; USD is 1."""
    if cur == "USD":
        return 1.0
    dated = [(d, r) for d, c, r in rates if c == cur and d <= day]
    return max(dated)[1] if dated else USD_RATES.get(cur)


def write_rates(path, rows=RATES):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["date", "currency", "rate"])
        w.writerows((d.isoformat(), c, r) for d, c, r in rows)
    return path


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "fx.duckdb")
    insert(c, "opportunities", [
        {"opportunity_id": i, "account_id": "A", "revenue_type": "new_business", "amount": a, "currency": cur,
         "created_at": cr, "closed_at": cl, "is_closed": cl is not None, "is_won": won}
        for i, a, cur, cr, cl, won in OPPS])
    yield c
    c.close()


def test_amounts_convert_at_their_dates(con, tmp_path):
    read, written = load_rates(con, write_rates(tmp_path / "rates.csv"))
    assert (read, written) == (len(RATES), len(RATES))
    got = {r[0]: (r[1], r[2]) for r in con.execute(
        f"SELECT opportunity_id, pipeline_usd, revenue_usd FROM {opportunities_usd_sql(con)} o").fetchall()}
    for i, a, cur, cr, cl, _ in OPPS:
        assert got[i][0] == pytest.approx(a * rate_on(cur, cr.date())), i
        assert got[i][1] == pytest.approx(a * rate_on(cur, (cl or cr).date())), i


def test_reports_use_the_dated_rates(con, tmp_path):
    load_rates(con, write_rates(tmp_path / "rates.csv"))
    won = sum(a * rate_on(cur, cl.date()) for _, a, cur, _, cl, w in OPPS if w)
    pipe = sum(a * rate_on(cur, cr.date()) for _, a, cur, cr, _, _ in OPPS)
    got = actuals(con)
    assert got["won_revenue"] == pytest.approx(won)
    assert got["pipeline_created"] == pytest.approx(pipe)
    by_q = revenue_vs_target(con, "quarter")
    q1 = sum(a * rate_on(cur, cl.date()) for _, a, cur, _, cl, w in OPPS if w and cl < datetime(2018, 4, 1))
    assert by_q.loc[by_q["period"].astype(str) == "2018-01-01", "won_revenue"].item() == pytest.approx(q1)


def test_without_dated_rates_the_defaults_apply(con):
    got = actuals(con)
    assert got["won_revenue"] == pytest.approx(sum(a * USD_RATES[cur] for _, a, cur, _, _, w in OPPS if w))


def test_portable_form_agrees_with_sql(con, tmp_path):
    load_rates(con, write_rates(tmp_path / "rates.csv"))
    be = ibis_backend(con)
    o = be.table("opportunities")
    df = usd_ibis(be, o, "amount", "currency", "closed_at").to_pandas().set_index("opportunity_id")
    for i, a, cur, _, cl, _ in OPPS:
        if cl is not None:  # an open deal has no close date (the SQL test checks its creation-date rate)
            assert df.loc[i, "amount_usd"] == pytest.approx(a * rate_on(cur, cl.date())), i


def test_spend_converts_at_its_day(tmp_path):
    c = connect(tmp_path / "s.duckdb")
    insert(c, "spend", [{"date": date(2018, 1, 31), "channel": "paid_search", "campaign_id": "", "spend": 100.0,
                         "currency": "EUR"},
                        {"date": date(2018, 2, 1), "channel": "paid_search", "campaign_id": "", "spend": 100.0,
                         "currency": "EUR"}])
    load_rates(c, write_rates(tmp_path / "rates.csv"))
    got = spend_by(c, "channel")
    assert got["spend"].sum() == pytest.approx(100 * 1.20 + 100 * 1.25)
    c.close()


def test_ingest_detects_a_rates_file_and_names_a_bad_row(con, tmp_path):
    report = load_files(con, [write_rates(tmp_path / "rates.csv")])
    assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == len(RATES)
    assert report.by_table()["fx_rates"]["loaded"] == len(RATES)
    bad = write_rates(tmp_path / "bad.csv", [(date(2018, 5, 1), "EUR", 1.1), (date(2018, 5, 2), "EUR", -1)])
    with pytest.raises(ValueError, match=r"bad.csv: row 2, field rate"):
        load_rates(con, bad)
    assert con.execute("SELECT count(*) FROM fx_rates").fetchone()[0] == len(RATES)


_day = st.dates(min_value=date(2017, 1, 1), max_value=date(2019, 12, 31))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rates=st.lists(st.tuples(_day, st.sampled_from(["EUR", "BRL", "USD"]), st.floats(0.01, 5.0)), max_size=12,
                      unique_by=lambda r: (r[0], r[1])),
       opps=st.lists(st.tuples(st.floats(0, 1e6), st.sampled_from(["EUR", "BRL", "USD", "JPY"]), _day,
                               st.integers(0, 400)), min_size=1, max_size=10))
def test_property_conversion_equals_independent_rule(tmp_path_factory, rates, opps):
    """For any rates and deals: SQL and Ibis both give the independent rule's amounts."""
    c = connect(tmp_path_factory.mktemp("p") / "p.duckdb")
    try:
        insert(c, "opportunities", [
            {"opportunity_id": f"o{k}", "amount": a, "currency": cur, "created_at": datetime.combine(d, datetime.min.time()),
             "closed_at": datetime.combine(d + timedelta(days=n), datetime.min.time()) + timedelta(hours=20),
             "is_closed": True, "is_won": True} for k, (a, cur, d, n) in enumerate(opps)])
        if rates:
            c.executemany("INSERT INTO fx_rates VALUES (?, ?, ?, 'test')", rates)
        sql = dict((r[0], r[1]) for r in c.execute(
            f"SELECT opportunity_id, revenue_usd FROM {opportunities_usd_sql(c)} o").fetchall())
        be = ibis_backend(c)
        ib = usd_ibis(be, be.table("opportunities"), "amount", "currency", "closed_at").to_pandas()
        ib = dict(zip(ib["opportunity_id"], ib["amount_usd"]))
        for k, (a, cur, d, n) in enumerate(opps):
            expect = round(a, 2) * rate_on(cur, d + timedelta(days=n), rates)
            assert sql[f"o{k}"] == pytest.approx(expect, rel=1e-9, abs=1e-6)
            assert ib[f"o{k}"] == pytest.approx(expect, rel=1e-9, abs=1e-6)
    finally:
        c.close()


def test_cli_fx_load_and_list(tmp_path):
    db = tmp_path / "cli.duckdb"
    connect(db).close()
    run = [sys.executable, "-m", "revline"]
    out = subprocess.run([*run, "fx", "load", str(write_rates(tmp_path / "rates.csv")), "--db", str(db)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"{len(RATES)} rates read" in out.stdout and "EUR: 3 rates from 2018-01-01 to 2018-03-15" in out.stdout
    inverted = write_rates(tmp_path / "inverted.csv", [(date(2018, 1, 1), "MXN", 18.0)])
    out = subprocess.run([*run, "fx", "load", str(inverted), "--db", str(db)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "is the file in MXN per USD?" in out.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("date,currency,rate\n2018-13-01,EUR,1\n")
    out = subprocess.run([*run, "fx", "load", str(bad), "--db", str(db)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "row 1, field date" in out.stderr and "Traceback" not in out.stderr

"""The ledger writer (rows as DuckDB relations): invariants checked inside the writing transaction, runs replaced."""

from __future__ import annotations

import pytest

import revline
from revline.attribution.ledger import write_ledger

ROWS = """SELECT * FROM (VALUES
    ('O1', 'opportunity', 't1', {c1}, {c1} * 100.0, 'new_business', 'email', NULL, 'FT', TIMESTAMP '2024-01-01'),
    ('O1', 'opportunity', 't2', {c2}, {c2} * 100.0, 'new_business', 'events', NULL, NULL, TIMESTAMP '2024-01-02'),
    ('O2', 'opportunity', NULL, 1.0, 50.0, 'new_business', '(unattributed)', NULL, NULL, NULL)
) v(conversion_id, conversion_type, touchpoint_id, credit, revenue_credit, revenue_type, channel, campaign_id,
    touch_position, occurred_at)"""
AMOUNTS = "SELECT * FROM (VALUES ('O1', 100.0), ('O2', 50.0)) a(conversion_id, amount)"


def test_good_run_written_and_replaced():
    con = revline.connect(":memory:")
    first = write_ledger(con, con.sql(ROWS.format(c1=0.5, c2=0.5)), model="m", milestone="won",
                               revenue_type="new_business", amounts=con.sql(AMOUNTS))
    second = write_ledger(con, con.sql(ROWS.format(c1=0.25, c2=0.75)), model="m", milestone="won",
                                revenue_type="new_business", amounts=con.sql(AMOUNTS))
    assert first != second
    runs = con.execute("SELECT run_id, opportunities, unattributed FROM attribution_runs").fetchall()
    assert runs == [(second, 2, 1)]
    assert con.execute("SELECT sum(credit) FROM credit_ledger WHERE touchpoint_id = 't2'").fetchone()[0] == 0.75


def test_bad_credits_roll_back_everything():
    con = revline.connect(":memory:")
    keep = write_ledger(con, con.sql(ROWS.format(c1=0.5, c2=0.5)), model="m", milestone="won", revenue_type="new_business")
    with pytest.raises(ValueError, match=r"credits do not sum to 1 for 1 opportunities, e.g. O1=0.9"):
        write_ledger(con, con.sql(ROWS.format(c1=0.5, c2=0.4)), model="m", milestone="won", revenue_type="new_business")
    # the earlier run of the same key survives the failed replacement
    assert con.execute("SELECT run_id FROM attribution_runs").fetchall() == [(keep,)]
    assert con.execute("SELECT count(*) FROM credit_ledger").fetchone()[0] == 3


def test_revenue_mismatch_detected():
    con = revline.connect(":memory:")
    wrong = "SELECT * FROM (VALUES ('O1', 120.0), ('O2', 50.0)) a(conversion_id, amount)"
    with pytest.raises(ValueError, match="revenue credit differs from amount for opportunity O1"):
        write_ledger(con, con.sql(ROWS.format(c1=0.5, c2=0.5)), model="m", milestone="won", revenue_type=None, amounts=con.sql(wrong))
    assert con.execute("SELECT count(*) FROM credit_ledger").fetchone()[0] == 0


def test_totals_check_accepts_good_runs_and_counts_like_the_full_check():
    con = revline.connect(":memory:")
    rid = write_ledger(con, con.sql(ROWS.format(c1=0.25, c2=0.75)), model="m", milestone="won",
                             revenue_type="new_business", amounts=con.sql(AMOUNTS), check="totals")
    assert con.execute("SELECT run_id, opportunities, unattributed FROM attribution_runs").fetchall() == [(rid, 2, 1)]


@pytest.mark.parametrize("rows, amounts, message", [
    (ROWS.format(c1=0.5, c2=0.4), AMOUNTS, "credits of run .* sum to 1.9, expected one per conversion"),
    (ROWS.format(c1=1.5, c2=-0.5), AMOUNTS, r"credits outside \[0, 1\]"),
    # a conversion missing from the rows is a whole credit short
    (ROWS.format(c1=0.5, c2=0.5), AMOUNTS.replace("('O2', 50.0)", "('O2', 50.0), ('O3', 0.0)"), "expected one per conversion"),
    (ROWS.format(c1=0.5, c2=0.5), AMOUNTS.replace("100.0", "120.0"), "revenue credit of run .* expected the amounts"),
])
def test_totals_check_rolls_back_bad_runs(rows, amounts, message):
    con = revline.connect(":memory:")
    with pytest.raises(ValueError, match=message):
        write_ledger(con, con.sql(rows), model="m", milestone="won", revenue_type=None, amounts=con.sql(amounts), check="totals")
    assert con.execute("SELECT count(*) FROM credit_ledger").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM attribution_runs").fetchone()[0] == 0


def test_totals_check_needs_the_conversions():
    con = revline.connect(":memory:")
    with pytest.raises(ValueError, match="needs amounts"):
        write_ledger(con, con.sql(ROWS.format(c1=0.5, c2=0.5)), model="m", milestone="won", revenue_type=None, check="totals")


def test_a_dataframe_an_ibis_expression_and_a_relation_write_the_same_rows():
    from revline.store import ibis_backend

    con = revline.connect(":memory:")
    rel = con.sql(ROWS.format(c1=0.25, c2=0.75))
    frame = rel.df()
    con.execute(f"CREATE TABLE src AS {ROWS.format(c1=0.25, c2=0.75)}")
    expr = ibis_backend(con).table("src")
    ids = [write_ledger(con, rows, model=f"m{i}", milestone="won", revenue_type="new_business", amounts=con.sql(AMOUNTS))
           for i, rows in enumerate([rel, frame, expr])]
    got = [con.execute("SELECT conversion_id, touchpoint_id, credit, revenue_credit, channel, touch_position, occurred_at "
                       "FROM credit_ledger WHERE run_id = ? ORDER BY ALL", [rid]).fetchall() for rid in ids]
    assert got[0] == got[1] == got[2] and len(got[0]) == 3


def test_read_ledger_reads_the_selected_runs_only():
    from revline.attribution.ledger import LEDGER_COLUMNS, read_ledger

    con = revline.connect(":memory:")
    for rt in ("new_business", "all"):
        write_ledger(con, con.sql(ROWS.format(c1=0.5, c2=0.5)), model="m", milestone="won", revenue_type=rt)
    write_ledger(con, con.sql(ROWS.format(c1=0.25, c2=0.75)), model="other", milestone="won", revenue_type="all")
    rows = read_ledger(con, "won", None, ["m"]).df()
    assert list(rows.columns) == list(LEDGER_COLUMNS)
    assert len(rows) == 3 and set(rows.model) == {"m"}  # the 'all' run, not 'all' plus new_business
    both = read_ledger(con, "won", "new_business", columns=["model", "credit"]).aggregate("model, sum(credit)").fetchall()
    assert sorted(both) == [("m", 2.0), ("other", 2.0)]  # other: its 'all' run filtered to the type

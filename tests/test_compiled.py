"""The compiled-SQL cache of portable transforms on DuckDB (revline.store.compiled): the same frames
as running the Ibis expression, and a new compile whenever what shapes the SQL changes."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from test_roi import SPEND, store  # noqa: F401 - the module fixture (W5 journey with spend and runs)

from revline.journeys.funnel import funnel, funnel_expr, funnel_rows, stage_dates, stage_dates_expr
from revline.reports.roi import roi_from_sums, roi_sums_expr, roi_table
from revline.store import ibis_backend
from revline.store.compiled import clear, run_compiled

assert SPEND


@pytest.mark.parametrize("kw", [
    {}, {"by": "campaign"}, {"by": "month", "end": "2024-03-31"}, {"model": "first_touch", "start": "2024-01-15"},
    {"segment": "emea"}, {"by": "campaign", "campaign_level": "campaign"}, {"milestone": "opportunity"},
])
def test_roi_table_cold_and_warm_equal_the_expression(store, kw):  # noqa: F811
    by, level = kw.get("by", "channel"), kw.get("campaign_level")
    args = {k: v for k, v in kw.items() if k not in ("by", "campaign_level", "segment")}
    sums = roi_sums_expr(ibis_backend(store), by=by, segment=kw.get("segment"), **args).to_pandas()
    want = roi_from_sums(sums, by, segment=kw.get("segment"), campaign_level=level, con=store)
    clear()
    pd.testing.assert_frame_equal(roi_table(store, **kw), want)  # compiles
    pd.testing.assert_frame_equal(roi_table(store, **kw), want)  # from the kept SQL


@pytest.mark.parametrize("kw", [{}, {"start": "2024-01-01", "end": "2024-01-31"}, {"revenue_type": "renewal"}])
def test_funnel_and_stage_dates_equal_the_expression(store, kw):  # noqa: F811
    be = ibis_backend(store)
    rt = kw.get("revenue_type", "new_business")
    want = funnel_rows(funnel_expr(be, **kw).to_pandas().iloc[0].to_dict(), rt)
    for _ in range(2):
        pd.testing.assert_frame_equal(funnel(store, **kw), want)
    wide = stage_dates_expr(be, rt).to_pandas()
    got = stage_dates(store, rt)
    assert sorted(got.index) == sorted(wide["account_id"])
    assert got.notna().sum().tolist() == wide.drop(columns="account_id").notna().sum().tolist()


def _picked(be, name: str):
    """A toy transform shaped by rows it reads while building, as roi_sums_expr is by its runs."""
    t = be.table("t")
    runs = be.table("runs").to_pandas()["run_id"].tolist()
    return t.filter(t.name == name, t.run_id.isin(runs or [""]))


# declared by hand, not with @reads: that would register the toy among the project's transforms
_picked.__dict__["tables_read"] = frozenset({"t", "runs"})


def _run(con, name):
    return run_compiled(con, _picked, (name,), lambda be: _picked(be, name), shape_sql=("SELECT run_id FROM runs ORDER BY 1",))


def test_recompiles_when_runs_or_columns_change_and_keeps_no_connection():
    clear()
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('O''Brien', 'r1', 1), ('O''Brien', 'r2', 2), ('x', 'r1', 3)) v(name, run_id, n)")
    con.execute("CREATE TABLE runs AS SELECT 'r1' AS run_id")
    assert _run(con, "O'Brien")["n"].tolist() == [1]  # the value quoted by Ibis
    assert _run(con, "x")["n"].tolist() == [3]
    assert _run(con, "O'Brien")["n"].tolist() == [1]
    con.execute("INSERT INTO runs VALUES ('r2')")  # a new run: the SQL selecting runs is made again
    assert sorted(_run(con, "O'Brien")["n"]) == [1, 2]
    con.execute("ALTER TABLE t ADD COLUMN extra INTEGER DEFAULT 7")  # new columns: compiled again
    assert _run(con, "O'Brien")["extra"].tolist() == [7, 7]
    assert _run(con, "x; DROP TABLE t")["n"].tolist() == []
    con.close()
    other = duckdb.connect()  # another store with the same shape: the kept SQL runs on its own data
    other.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('x', 'r1', 9)) v(name, run_id, n)")
    other.execute("CREATE TABLE runs AS SELECT 'r1' AS run_id")
    assert _run(other, "x")["n"].tolist() == [9]

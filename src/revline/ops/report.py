"""Operation `report`: attributed revenue (or ROI) by a dimension, as a table with its title,
after stitching a changed store; says why the table would be empty or all zeros."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from revline.attribution.diagnose import conversion_problem, touch_problem
from revline.ops.fresh import stitch_if_stale
from revline.ops.registry import Progress, no_progress
from revline.reports.roi import roi_table
from revline.reports.tables import attribution_by, unattributed


@dataclass(frozen=True)
class ReportResult:
    """A report table and its title, or what to run when there is nothing worth showing."""

    frame: pd.DataFrame
    title: str
    problem: str | None = None  # why there is nothing worth showing, and what to run
    stitched: str | None = None  # why the store was stitched first (None: it was fresh)


def report_problem(con, df: pd.DataFrame, roi: bool, models, milestone: str, revenue_type: str) -> str | None:
    """Why the report would be empty or all zeros (and what to run), or None when it has figures."""
    if roi and not df.empty:
        return None  # spend alone is a figure worth showing
    runs = unattributed(con, milestone, None if milestone in ("lead", "mql", "sql") else revenue_type, models or None)
    if df.empty or runs.empty:
        if con.execute("SELECT count(*) FROM attribution_runs").fetchone()[0] == 0:
            return (touch_problem(con) or "") + ("; then " if touch_problem(con) else "") + \
                "no attribution runs in the store: run `revline attribute`"
        return (conversion_problem(con, milestone, revenue_type)
                or "no ledger rows match; run `revline attribute` for this milestone and revenue type (or widen the filters)")
    if (runs["conversions"] == 0).all():
        return conversion_problem(con, milestone, revenue_type) or "the matching runs hold no conversions; run `revline attribute`"
    if (runs["conversions"] == runs["unattributed"]).all():
        return ("every conversion is unattributed: " + (touch_problem(con) or
                "no touch precedes any conversion within the lookback; check the touch dates or run `revline stitch`")
                + "; then run `revline attribute` again")
    return None


def report(
    con: duckdb.DuckDBPyConnection,
    *,
    by: str = "channel",
    models: list[str] | None = None,
    milestone: str = "won",
    revenue_type: str = "new_business",
    roi: bool = False,
    start: str | None = None,
    end: str | None = None,
    no_stitch: bool = False,
    db: str | None = None,
    progress: Progress = no_progress,
) -> ReportResult:
    """Attribution (or ROI with `roi`) by channel, campaign or month for the given models, stitching
    a changed store first unless `no_stitch`."""
    stitched = stitch_if_stale(con, no_stitch=no_stitch, db=db)
    if roi:
        if by not in ("channel", "campaign", "month"):
            raise ValueError("--roi works --by channel, campaign or month")
        model = (models or ["linear"])[0]
        df = roi_table(con, model, milestone=milestone, revenue_type=revenue_type, by=by, start=start, end=end)  # type: ignore[arg-type]
        title = f"ROI by {by} ({model}, {milestone}, {revenue_type})"
    else:
        df = attribution_by(con, by, models or None, milestone, revenue_type, start, end)  # type: ignore[arg-type]
        title = f"Attribution by {by} at {milestone}" + ("" if milestone in ("lead", "mql", "sql") else f" ({revenue_type})")
    return ReportResult(df, title, report_problem(con, df, roi, models, milestone, revenue_type), stitched)

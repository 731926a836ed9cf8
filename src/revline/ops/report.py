"""Operation `report`: attributed revenue (or ROI) by a dimension, as a table with its title,
after stitching a changed store; says why the table would be empty or all zeros."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from revline.attribution.diagnose import conversion_problem, touch_problem
from revline.ops.fresh import stitch_if_stale
from revline.ops.registry import Progress, no_progress
from revline.reports.campaigns import check_level
from revline.reports.deals import deals_by, defaulted_types_note
from revline.reports.definitions import definition
from revline.reports.roi import roi_table
from revline.reports.segments import normal_segment
from revline.reports.tables import DIMENSIONS, attribution_by, unattributed
from revline.vocabulary import ALL_REVENUE, ALL_SEGMENTS, DEFAULT_REVENUE_TYPE


@dataclass(frozen=True)
class ReportResult:
    """A report table and its title, or what to run when there is nothing worth showing."""

    frame: pd.DataFrame
    title: str
    problem: str | None = None  # why there is nothing worth showing, and what to run
    stitched: str | None = None  # why the store was stitched first (None: it was fresh)
    notes: tuple[str, ...] = ()  # what the figures include that a reader should know (defaulted deal types)


def filter_problem(con, models, milestone: str, revenue_type: str | None, start, end) -> str | None:
    """Which filter removed the ledger rows of a report that came out empty, with what the ledger
    does hold; None when no single filter explains it."""
    rows = con.execute(
        "SELECT r.model, r.revenue_type, count(*) FROM credit_ledger l JOIN attribution_runs r USING (run_id) "
        "WHERE r.milestone = ? GROUP BY ALL ORDER BY 3 DESC", [milestone]).fetchall()
    if not rows:
        return f"the ledger holds no rows at milestone '{milestone}': run `revline attribute --milestone {milestone}`"
    held = ", ".join(f"{m}/{t or 'all'} {n:,}" for m, t, n in rows)
    if models and not any(m in models for m, _, _ in rows):
        return (f"--model {', '.join(models)} removed every row: the ledger at '{milestone}' holds "
                f"(model/revenue type, rows) {held}")
    typed = [r for r in rows if not models or r[0] in models]
    if milestone not in ("lead", "mql", "sql") and revenue_type not in (None, "all") \
            and not any(t == revenue_type for _, t, _ in typed):
        return (f"--revenue-type {revenue_type} removed every row: the ledger at '{milestone}' holds "
                f"(model/revenue type, rows) {held}; pass --revenue-type all or one of those types")
    if start or end:
        return (f"the dates {start or '...'} to {end or '...'} removed every row at '{milestone}' "
                f"(the ledger holds {held}); widen --start/--end")
    return None


def report_problem(con, df: pd.DataFrame, roi: bool, models, milestone: str, revenue_type: str,
                   start=None, end=None) -> str | None:
    """Why the report would be empty or all zeros (and what to run, or which filter removed the
    rows), or None when it has figures."""
    if roi and not df.empty:
        return None  # spend alone is a figure worth showing
    # every run of the milestone when all types are asked: they are the per-type runs, the all-types run or both
    rt = None if milestone in ("lead", "mql", "sql") or revenue_type in (None, ALL_REVENUE) else revenue_type
    runs = unattributed(con, milestone, rt, models or None)
    if df.empty or runs.empty:
        if con.execute("SELECT count(*) FROM attribution_runs").fetchone()[0] == 0:
            return (touch_problem(con) or "") + ("; then " if touch_problem(con) else "") + \
                "no attribution runs in the store: run `revline attribute`"
        return (conversion_problem(con, milestone, revenue_type)
                or filter_problem(con, models, milestone, revenue_type, start, end)
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
    revenue_type: str = DEFAULT_REVENUE_TYPE,
    roi: bool = False,
    raw: bool = False,
    start: str | None = None,
    end: str | None = None,
    segment: str | None = None,
    campaign_level: str | None = None,
    no_stitch: bool = False,
    db: str | None = None,
    progress: Progress = no_progress,
) -> ReportResult:
    """Attribution (or ROI with `roi`) by channel, campaign or month for the given models, stitching
    a changed store first unless `no_stitch`. The title is the table's definition
    (`reports.definitions`): model, milestone, revenue types, segment, currency and period. `by` a
    promoted dimension (owner, product, ...): deals by it instead (won revenue, pipeline, win rate;
    reports.deals), no run needed."""
    stitched = stitch_if_stale(con, no_stitch=no_stitch, db=db)
    revenue_type = revenue_type or DEFAULT_REVENUE_TYPE
    level = check_level(campaign_level)
    notes: tuple[str, ...] = (f"campaigns at {level} level",) if by == "campaign" else ()
    if not roi and by not in DIMENSIONS:  # a promoted dimension (owner, product...): a report of deals
        df = deals_by(con, by, revenue_type, start, end)
        note = defaulted_types_note(con, "won", revenue_type)
        return ReportResult(df, f"Deals by {by} (USD; {revenue_type}; win rate = won / closed)", None, stitched,
                            (note,) if note else ())
    if roi:
        if by not in ("channel", "campaign", "month"):
            raise ValueError("--roi works --by channel, campaign or month")
        model = (models or ["linear"])[0]
        filtered = bool(start or end) or normal_segment(segment) != ALL_SEGMENTS or milestone != "won"
        if by == "channel" and not raw and not filtered:
            from revline.reports.unified import display_table, unified_roi

            df = unified_roi(con, model, db, revenue_type=revenue_type)
            method = df.attrs["method"]
            title = (f"Unified ROI by channel ({df.attrs['outcome']}, {df.attrs['revenue_type']}; "
                     f"USD; mean [94% interval]; --raw for {model} attribution alone)\n{method}")
            return ReportResult(display_table(df), title, None, stitched, ())
        if by == "channel" and not raw:
            notes += ("the unified ROI covers the whole fit, milestone won and all regions: "
                      "showing attribution alone",)
        df = roi_table(con, model, milestone=milestone, revenue_type=revenue_type, by=by,  # type: ignore[arg-type]
                       start=start, end=end, segment=segment, campaign_level=level)
        if by == "campaign" and level == "campaign":
            notes += ("ROI over each campaign and its children",)
        if normal_segment(segment) != ALL_SEGMENTS:
            notes += ("spend has no region: ratios only for all regions",)
        d = definition(model=model, milestone=milestone, revenue_type=revenue_type, segment=segment, start=start,
                       end=end, clock="touch date; spend by spend date", notes=notes)
        title = f"ROI by {by}\n{d['text']}"
    else:
        df = attribution_by(con, by, models or None, milestone, revenue_type, start, end,  # type: ignore[arg-type]
                            segment=segment, campaign_level=level)
        d = definition(model=", ".join(models) if models else None, milestone=milestone, revenue_type=revenue_type,
                       segment=segment, start=start, end=end, notes=notes)
        title = f"Attribution by {by}\n{d['text']}"
    problem = report_problem(con, df, roi, models, milestone, revenue_type, start, end)
    note = defaulted_types_note(con, milestone, revenue_type)
    return ReportResult(df, title, problem, stitched, (note,) if note else ())

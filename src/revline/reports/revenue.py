"""Revenue actuals and targets: won revenue, pipeline created and the company's targets.

Why one module: the CLI, the HTML report, the REST API and the dashboard tiles all show "revenue
won", "pipeline created" and "attainment", and they must agree. Every figure here is in USD
(revline.store.fx: won revenue converted at its close date's rate, pipeline at its creation
date's), won revenue is counted at its close date and pipeline at its creation date, and a period's company target is its 'all' row, or the sum of
its segments' rows when it has no 'all' row (the regional rows break the 'all' one down; adding
them on top would count the target twice).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

import pandas as pd

from revline.reports.errors import ReportError, as_date
from revline.reports.segments import normal_segment, region_or_none, segment_accounts_sql
from revline.store.fx import opportunities_usd_sql
from revline.store.targets import COMPANY, COMPANY_TARGETS_SQL

Period = Literal["month", "quarter", "year"]
_COMPANY_TARGETS = COMPANY_TARGETS_SQL  # the reading rule lives in store.targets (shared with models)

_SEGMENT_TARGETS = """
    SELECT period_start, period_end, segment, revenue_target::DOUBLE AS revenue_target,
           pipeline_target::DOUBLE AS pipeline_target
    FROM targets WHERE upper(segment) = upper(?)"""


def _type_filter(revenue_type: str | None, segment: str | None = None) -> tuple[str, list[Any]]:
    """The opportunities' filter (SQL after a WHERE, starting with AND) by revenue type and by the
    segment (region) of their account."""
    sql, params = "", []
    if revenue_type not in (None, "all"):
        sql, params = " AND revenue_type = ?", [revenue_type]
    seg = segment_accounts_sql(segment)
    if seg is not None:
        sql += f" AND account_id IN ({seg[0]})"
        params += seg[1]
    return sql, params


def actuals(con: Any, start: Any = None, end: Any = None, revenue_type: str | None = None,
            segment: str | None = None) -> dict[str, float]:
    """Won revenue (closed in [start, end]) and pipeline created (created in it), in USD, with
    the deal counts; inclusive dates, None for an open end; `revenue_type` None or 'all' for
    every type, `segment` None or 'all' for every region."""
    s, e = as_date(start, "start"), as_date(end, "end")
    lo = s or date(1, 1, 1)
    hi = e + timedelta(days=1) if e is not None and e < date(9999, 12, 31) else date(9999, 12, 31)
    rt, rt_params = _type_filter(revenue_type, segment)
    won_revenue, won_deals, pipeline, created = con.execute(
        f"""SELECT coalesce(sum(revenue_usd) FILTER (WHERE won), 0)::DOUBLE, count(*) FILTER (WHERE won),
                   coalesce(sum(pipeline_usd) FILTER (WHERE created), 0)::DOUBLE, count(*) FILTER (WHERE created)
            FROM (SELECT *, coalesce(is_won, FALSE) AND closed_at >= ? AND closed_at < ? AS won,
                            created_at >= ? AND created_at < ? AS created
                  FROM {opportunities_usd_sql(con)} o WHERE TRUE{rt})""",  # noqa: S608 - fixed expressions (usd_sql, constants); filters bound
        [lo, hi, lo, hi, *rt_params],
    ).fetchone()
    return {"won_revenue": won_revenue, "won_deals": int(won_deals),
            "pipeline_created": pipeline, "opportunities_created": int(created)}


def target_periods(con: Any, segment: str = COMPANY, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Each target period of `segment` overlapping [start, end] with its actuals (USD, every
    revenue type: targets carry none) and attainment. The 'all' segment is the company target
    (see the module doc); a region's target (any case) is set against the deals of that region's
    accounts (`reports.segments`). A segment that is no region (e.g. 'enterprise') keeps its
    targets with no actuals (NaN): accounts carry no such segment."""
    s, e = as_date(start, "start"), as_date(end, "end")
    region = region_or_none(segment)
    targets, params = (_COMPANY_TARGETS, []) if region == COMPANY else (_SEGMENT_TARGETS, [region or segment])
    seg_sql, seg_params = _type_filter(None, region) if region is not None else (" AND FALSE", [])
    df = con.execute(
        f"""
        WITH t AS ({targets}), ou AS (SELECT * FROM {opportunities_usd_sql(con)} o)
        SELECT t.period_start, t.period_end, t.segment,
               coalesce((SELECT sum(o.revenue_usd) FROM ou o WHERE o.is_won AND o.closed_at >= t.period_start
                         AND o.closed_at < t.period_end + INTERVAL 1 DAY{seg_sql}), 0)::DOUBLE AS revenue,
               t.revenue_target,
               coalesce((SELECT sum(o.pipeline_usd) FROM ou o WHERE o.created_at >= t.period_start
                         AND o.created_at < t.period_end + INTERVAL 1 DAY{seg_sql}), 0)::DOUBLE AS pipeline,
               t.pipeline_target
        FROM t WHERE t.period_end >= ? AND t.period_start <= ?
        ORDER BY t.period_start, t.period_end""",  # noqa: S608 - fixed expressions (usd_sql, constants); filters bound
        [*seg_params, *seg_params, *params, s or date(1, 1, 1), e or date(9999, 12, 31)],
    ).df()
    if region is None:
        df["revenue"] = df["pipeline"] = float("nan")
    df["revenue_attainment"] = df["revenue"] / df["revenue_target"].where(df["revenue_target"] != 0)
    df["pipeline_attainment"] = df["pipeline"] / df["pipeline_target"].where(df["pipeline_target"] != 0)
    return df


def revenue_vs_target(con: Any, period: Period = "quarter", revenue_type: str | None = None) -> pd.DataFrame:
    """Company targets against won revenue (by close date) and pipeline created (by creation
    date) per calendar month, quarter or year, in USD. Periods with actuals but no target (or
    the reverse) are kept."""
    if period not in ("month", "quarter", "year"):
        raise ReportError(f"period must be month, quarter or year, got {period!r}")
    rt, rt_params = _type_filter(revenue_type)
    return con.execute(
        f"""
        WITH ou AS (SELECT * FROM {opportunities_usd_sql(con)} o), t AS (
            SELECT date_trunc('{period}', period_start)::DATE AS period,
                   sum(revenue_target)::DOUBLE AS revenue_target, sum(pipeline_target)::DOUBLE AS pipeline_target
            FROM ({_COMPANY_TARGETS}) GROUP BY 1
        ), won AS (
            SELECT date_trunc('{period}', closed_at)::DATE AS period, sum(revenue_usd)::DOUBLE AS won_revenue,
                   count(*) AS won_deals
            FROM ou WHERE coalesce(is_won, FALSE) AND closed_at IS NOT NULL{rt} GROUP BY 1
        ), pipe AS (
            SELECT date_trunc('{period}', created_at)::DATE AS period, sum(pipeline_usd)::DOUBLE AS pipeline_created,
                   count(*) AS opportunities_created
            FROM ou WHERE created_at IS NOT NULL{rt} GROUP BY 1
        )
        SELECT period, revenue_target, coalesce(won_revenue, 0) AS won_revenue,
               coalesce(won_revenue, 0) / nullif(revenue_target, 0) AS revenue_attainment,
               pipeline_target, coalesce(pipeline_created, 0) AS pipeline_created,
               coalesce(pipeline_created, 0) / nullif(pipeline_target, 0) AS pipeline_attainment,
               coalesce(won_deals, 0) AS won_deals, coalesce(opportunities_created, 0) AS opportunities_created
        FROM t FULL OUTER JOIN won USING (period) FULL OUTER JOIN pipe USING (period)
        ORDER BY period
        """,  # noqa: S608 - fixed expressions (usd_sql, constants); filters bound
        [*rt_params, *rt_params],
    ).df()


def headline(con: Any, start: Any = None, end: Any = None, revenue_type: str | None = None,
             segment: str | None = None) -> dict[str, float]:
    """The revenue tiles: won revenue and pipeline created in [start, end] (USD, of
    `revenue_type` in `segment`) and the targets of that segment's periods overlapping it.

    Targets carry no revenue type: for one type they are not comparable and reported as 0
    (the screens then say "no target" rather than a wrong attainment)."""
    a = actuals(con, start, end, revenue_type, segment)
    t = target_periods(con, normal_segment(segment), start, end)
    if revenue_type not in (None, "all"):
        t = t.iloc[0:0]
    return {
        "revenue": a["won_revenue"], "pipeline": a["pipeline_created"],
        "revenue_target": float(t["revenue_target"].fillna(0.0).sum()),
        "pipeline_target": float(t["pipeline_target"].fillna(0.0).sum()),
    }


__all__ = ["COMPANY", "actuals", "headline", "revenue_vs_target", "target_periods"]

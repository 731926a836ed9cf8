"""The account funnel: how many accounts reach each stage, convert onward, and how fast.

Why cumulative ("reached stage k or any later stage"): CRMs skip stages (a sales-sourced
account has an opportunity but never an MQL). Counting an account as having passed every
stage before the furthest one it reached keeps the funnel monotone and conversions within
0..1; velocity is measured only between stage dates that were actually recorded.

The cohort is the accounts whose first funnel stage falls between start and end, both days
included (a day's date means that whole day, as in every report and the level funnel).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from revline.store.compiled import run_compiled
from revline.store.portable import reads
from revline.vocabulary import FUNNEL_REVENUE_TYPE, REVENUE_TYPES

NEW_BUSINESS_STAGES: tuple[str, ...] = ("first_touch", "lead", "mql", "sql", "opportunity", "won")
RECURRING_STAGES: tuple[str, ...] = ("opportunity", "won")
FUNNEL_COLUMNS: tuple[str, ...] = ("stage", "count", "conversion_to_next", "median_days_to_next")


def funnel_stages(revenue_type: str) -> tuple[str, ...]:
    """The funnel's stages for a revenue type: renewals and expansions start at the opportunity."""
    if revenue_type not in REVENUE_TYPES:
        raise ValueError(f"revenue_type must be one of {', '.join(REVENUE_TYPES)}, got {revenue_type!r}")
    return NEW_BUSINESS_STAGES if revenue_type == "new_business" else RECURRING_STAGES


@reads("milestones", "opportunities")
def stage_dates_expr(be: Any, revenue_type: str = FUNNEL_REVENUE_TYPE) -> ir.Table:
    """One row per account (`account_id`), one column per stage of `funnel_stages(revenue_type)`:
    the first time the account reached it, as a portable Ibis expression (`be`: DuckDB's
    `ibis_backend(con)` or Spark's `ibis.pyspark.connect(session)`). Pre-opportunity stages are
    the account's milestones; opportunity and won those of its deals of the revenue type.
    Why conditional minimums rather than a pivot: one aggregation, the same on every backend."""
    stages = funnel_stages(revenue_type)
    m = be.table("milestones")
    own = m.filter(m.object_type == "account", m.milestone.isin([s for s in stages if s not in RECURRING_STAGES] or [""]))
    own = own.select(account_id=own.object_id.cast("string"), stage=own.milestone.cast("string"),
                     at=own.occurred_at.cast("timestamp"))  # one nullable schema for the union
    o = be.table("opportunities")
    o = o.filter(o.revenue_type.fill_null("new_business") == revenue_type, o.account_id.notnull())
    deals = m.filter(m.object_type == "opportunity", m.milestone.isin(list(RECURRING_STAGES)))
    deals = deals.join(o, deals.object_id == o.opportunity_id)
    deals = deals.select(account_id=deals.account_id.cast("string"), stage=deals.milestone.cast("string"),
                         at=deals.occurred_at.cast("timestamp"))
    long = own.union(deals, distinct=False)
    return long.group_by("account_id").aggregate(
        **{s: long.at.min(where=long.stage == s) for s in stages})


def stage_dates(
    con: duckdb.DuckDBPyConnection, revenue_type: str = FUNNEL_REVENUE_TYPE
) -> pd.DataFrame:
    """One row per account (index), one column per stage: the first time the account reached it
    (`stage_dates_expr` run on the store)."""
    stages = funnel_stages(revenue_type)
    wide = run_compiled(con, stage_dates_expr, (revenue_type,), lambda be: stage_dates_expr(be, revenue_type))
    wide = wide.set_index("account_id")
    wide = wide.reindex(columns=list(stages)).astype("datetime64[us]")
    wide.columns.name = None
    return wide.sort_index()


@reads("milestones", "opportunities")
def funnel_expr(
    be: Any,
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
    revenue_type: str = FUNNEL_REVENUE_TYPE,
) -> ir.Table:
    """The account funnel's heavy part as one portable Ibis expression (one row): per stage i of
    `funnel_stages`, `count_i` (cohort accounts that reached stage i or a later one) and
    `days_i` (median days from stage i to the next, over accounts with both dates, negatives
    clipped to 0; none for the last stage), for the accounts whose first stage falls from
    `start` to `end`, both days included. `funnel_rows` turns it into the funnel table."""
    stages = list(funnel_stages(revenue_type))
    w = stage_dates_expr(be, revenue_type)
    entered = ibis.least(*[w[s] for s in stages]) if len(stages) > 1 else w[stages[0]]
    lo, hi = _day_start(start), _day_after(end)
    if lo is not None:
        w = w.filter(entered >= lo.to_pydatetime())
    if hi is not None:
        w = w.filter(entered < hi.to_pydatetime())
    aggs: dict[str, Any] = {}
    for i, stage in enumerate(stages):
        later = [w[s].notnull() for s in stages[i:]]
        reached = later[0]
        for x in later[1:]:
            reached = reached | x
        aggs[f"count_{i}"] = reached.cast("int64").sum()
        if i + 1 < len(stages):
            a, b = w[stage], w[stages[i + 1]]
            # null unless both dates are there, so the median is over those accounts (no `where=`:
            # Ibis puts it into Spark's percentile, which then refuses a non-constant percentage);
            # whole seconds, as Spark's unix_timestamp counts them
            days = (b.epoch_seconds() - a.epoch_seconds()).cast("float64") / 86400.0
            aggs[f"days_{i}"] = ibis.cases((days < 0, 0.0), else_=days).median()
    return w.aggregate(**aggs)


def funnel_rows(sums: Mapping[str, Any], revenue_type: str = FUNNEL_REVENUE_TYPE) -> pd.DataFrame:
    """The funnel table (FUNNEL_COLUMNS) from the one row of `funnel_expr`, on the driver."""
    stages = funnel_stages(revenue_type)
    counts = [int(sums[f"count_{i}"] or 0) for i in range(len(stages))]
    rows = []
    for i, stage in enumerate(stages):
        conv = velocity = np.nan
        if i + 1 < len(stages):
            conv = counts[i + 1] / counts[i] if counts[i] else np.nan
            v = sums[f"days_{i}"]
            velocity = np.nan if v is None or pd.isna(v) else float(v)
        rows.append({"stage": stage, "count": counts[i], "conversion_to_next": conv, "median_days_to_next": velocity})
    return pd.DataFrame(rows, columns=list(FUNNEL_COLUMNS))


def _day_start(value: date | datetime | str | None) -> pd.Timestamp | None:
    """Midnight of `value`'s day (a time of day is dropped: the window is whole days)."""
    return None if value is None else pd.Timestamp(value).normalize()


def _day_after(value: date | datetime | str | None) -> pd.Timestamp | None:
    """Midnight after `value`'s day, the exclusive bound of an inclusive `end` (None: no bound,
    also past the last day pandas can hold)."""
    day = _day_start(value)
    return None if day is None or day >= pd.Timestamp.max.normalize() else day + pd.Timedelta(days=1)


def funnel(
    con: duckdb.DuckDBPyConnection,
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
    revenue_type: str = FUNNEL_REVENUE_TYPE,
) -> pd.DataFrame:
    """Stage, accounts reached, conversion to the next stage, median days to the next stage, for
    the accounts whose first stage falls from `start` to `end`, both days included."""
    lo, hi = _day_start(start), _day_after(end)  # the key: the window's bounds as funnel_expr takes them
    sums = run_compiled(con, funnel_expr, (lo, hi, revenue_type), lambda be: funnel_expr(be, start, end, revenue_type))
    return funnel_rows(sums.iloc[0].to_dict(), revenue_type)

"""The account funnel: how many accounts reach each stage, convert onward, and how fast.

Why cumulative ("reached stage k or any later stage"): CRMs skip stages (a sales-sourced
account has an opportunity but never an MQL). Counting an account as having passed every
stage before the furthest one it reached keeps the funnel monotone and conversions within
0..1. Time in a stage runs from its recorded date to the next recorded stage or the day the
account was lost (`_days_in_stage`), as in revline.models.funnel: every funnel screen, on DuckDB
or Spark, shows the same days.

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

from revline.journeys.stats import ratio, wilson
from revline.store.compiled import run_compiled
from revline.store.portable import reads
from revline.vocabulary import FUNNEL_REVENUE_TYPE, REVENUE_TYPES

NEW_BUSINESS_STAGES: tuple[str, ...] = ("first_touch", "lead", "mql", "sql", "opportunity", "won")
RECURRING_STAGES: tuple[str, ...] = ("opportunity", "won")
# the stage table of every account funnel screen, as revline.models.funnel's stage table (less its key)
FUNNEL_COLUMNS: tuple[str, ...] = ("stage", "count", "recorded", "conversion_to_next", "conversion_low",
                                   "conversion_high", "days_n", "days_p25", "days_median", "days_p75", "days_p90",
                                   "out_of_order")
QUANTILES: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)


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


@reads("opportunities")
def lost_expr(be: Any, revenue_type: str = FUNNEL_REVENUE_TYPE) -> ir.Table:
    """`account_id`, `lost_at`: the accounts whose every deal of the revenue type closed lost, at
    their first close -- when an account left the funnel without winning (its time in the stage it
    left from ends there)."""
    o = be.table("opportunities")
    o = o.filter(o.revenue_type.fill_null("new_business") == revenue_type, o.account_id.notnull())
    lost = o.is_closed.fill_null(False) & ~o.is_won.fill_null(False)
    g = o.group_by(account_id=o.account_id.cast("string")).aggregate(
        all_lost=lost.cast("int64").min(), lost_at=o.closed_at.cast("timestamp").min())
    return g.filter(g.all_lost == 1).select("account_id", "lost_at")


def _days_in_stage(dates: list[ir.TimestampValue], lost_at: ir.TimestampValue) -> list[tuple[ir.Value, ir.Value]]:
    """Per stage: (days an account spent in it, whether its record is out of order).

    Time in a stage runs from its date to the next *recorded* stage's date (a skipped stage does
    not end it), or to the day the account was lost. A next date earlier on the same day counts 0
    days (CRMs stamp several stages at once); earlier on another day is out of order and left out
    (counting it as 0 would pull the median down with bad records). Null where unmeasured. Whole
    seconds, as Spark's unix_timestamp counts them."""
    out = []
    for i, t in enumerate(dates):
        nxt = ibis.coalesce(*dates[i + 1:], lost_at) if i + 1 < len(dates) else lost_at
        seconds = nxt.epoch_seconds() - t.epoch_seconds()
        same_day = (seconds < 0) & (nxt.date() == t.date())
        negative = (seconds < 0) & ~same_day
        days = ibis.cases((same_day, 0.0), (negative, ibis.null("float64")),
                          else_=seconds.cast("float64") / 86400.0)
        out.append((days, negative.fill_null(False)))
    return out


@reads("milestones", "opportunities")
def funnel_expr(
    be: Any,
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
    revenue_type: str = FUNNEL_REVENUE_TYPE,
) -> ir.Table:
    """The account funnel's heavy part as one portable Ibis expression (one row): per stage i of
    `funnel_stages`, `count_i` (cohort accounts that reached stage i or a later one), `recorded_i`
    (those with stage i's own date), and the days in stage i (`_days_in_stage`): `n_i`, `p25_i`,
    `p50_i`, `p75_i`, `p90_i` (exact, linearly interpolated quantiles: percentile_cont on DuckDB,
    percentile on Spark, numpy's default) and `out_i` (records out of order); for the accounts
    whose first stage falls from `start` to `end`, both days included. `funnel_rows` turns it into
    the funnel table, the same as revline.models.funnel's account level."""
    stages = list(funnel_stages(revenue_type))
    w = stage_dates_expr(be, revenue_type)
    lost = lost_expr(be, revenue_type)
    w = w.left_join(lost, w.account_id == lost.account_id).select(*stages, lost_at=lost.lost_at)
    entered = ibis.least(*[w[s] for s in stages]) if len(stages) > 1 else w[stages[0]]
    lo, hi = _day_start(start), _day_after(end)
    if lo is not None:
        w = w.filter(entered >= lo.to_pydatetime())
    if hi is not None:
        w = w.filter(entered < hi.to_pydatetime())
    aggs: dict[str, Any] = {}
    timed = _days_in_stage([w[s] for s in stages], w.lost_at)
    for i, (days, negative) in enumerate(timed):
        later = [w[s].notnull() for s in stages[i:]]
        reached = later[0]
        for x in later[1:]:
            reached = reached | x
        aggs[f"count_{i}"] = reached.cast("int64").sum()
        aggs[f"recorded_{i}"] = w[stages[i]].notnull().cast("int64").sum()
        aggs[f"out_{i}"] = negative.cast("int64").sum()
        aggs[f"n_{i}"] = days.count()
        # no `where=`: Ibis puts it into Spark's percentile, which then refuses a non-constant percentage
        for q in QUANTILES:
            aggs[_quantile_key(q, i)] = days.quantile(q)
    return w.aggregate(**aggs)


def funnel_rows(sums: Mapping[str, Any], revenue_type: str = FUNNEL_REVENUE_TYPE) -> pd.DataFrame:
    """The funnel table (FUNNEL_COLUMNS) from the one row of `funnel_expr`, on the driver: counts,
    conversion to the next stage with its Wilson interval, and the days in stage."""
    stages = funnel_stages(revenue_type)
    counts = np.array([_count(sums[f"count_{i}"]) for i in range(len(stages))])
    nxt = np.append(counts[1:], 0)
    conv, (low, high) = ratio(nxt, counts), wilson(nxt, counts)
    rows = []
    for i, stage in enumerate(stages):
        last = i + 1 == len(stages)
        n = _count(sums[f"n_{i}"])
        p25, p50, p75, p90 = (np.nan if n == 0 or _missing(v := sums[_quantile_key(q, i)]) else float(v)
                              for q in QUANTILES)
        rows.append({"stage": stage, "count": int(counts[i]), "recorded": _count(sums[f"recorded_{i}"]),
                     "conversion_to_next": np.nan if last else conv[i],
                     "conversion_low": np.nan if last else low[i], "conversion_high": np.nan if last else high[i],
                     "days_n": n, "days_p25": p25, "days_median": p50, "days_p75": p75, "days_p90": p90,
                     "out_of_order": _count(sums[f"out_{i}"])})
    return pd.DataFrame(rows, columns=list(FUNNEL_COLUMNS))


def _quantile_key(q: float, stage: int) -> str:
    """The column of `funnel_expr` holding quantile `q` of stage `stage`'s days (p25_0, ...)."""
    return f"p{round(q * 100)}_{stage}"


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _count(value: Any) -> int:
    """A sum over no rows is NULL: None from DuckDB, NaN from Spark's pandas; either is 0."""
    return 0 if _missing(value) else int(value)


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
    """Per stage: accounts reached, conversion to the next stage (with its 95 % interval) and the
    days in the stage (`_days_in_stage`), for the accounts whose first stage falls from `start` to
    `end`, both days included: the same table as revline.models.funnel's account level."""
    lo, hi = _day_start(start), _day_after(end)  # the key: the window's bounds as funnel_expr takes them
    sums = run_compiled(con, funnel_expr, (lo, hi, revenue_type), lambda be: funnel_expr(be, start, end, revenue_type))
    return funnel_rows(sums.iloc[0].to_dict(), revenue_type)

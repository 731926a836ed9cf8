"""Pipeline coverage per target period: open pipeline / the target still to close.

Measured at one instant per period: its start for a period already over ("what did we go in
with"), `as_of` for the period running at `as_of`; periods that start after `as_of` are left out.
At that instant: won to date = revenue won since the period started; remaining target =
target - won to date (never below 0); open pipeline = every deal created by then and not closed
by then (whatever its expected close date: the store keeps only the latest one, so filtering by
it would use hindsight for past periods). Amounts in USD as revline.store.fx converts them (won
revenue at its close date's rate, pipeline at its creation date's, as the revenue report); the
company target is read as `revline.store.targets` says.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd

from revline.store.fx import opportunities_usd_sql
from revline.store.sql import lit
from revline.store.targets import COMPANY, COMPANY_TARGETS_SQL
from revline.vocabulary import region_sql

COVERAGE_COLUMNS: tuple[str, ...] = (
    "period_start", "period_end", "measured_at", "revenue_target", "won_to_date", "remaining_target",
    "open_pipeline", "open_deals", "coverage",
)


def data_as_of(con: duckdb.DuckDBPyConnection) -> pd.Timestamp | None:
    """The latest creation or close date among the deals: "now" for a store of past data."""
    row = con.execute("SELECT greatest(max(created_at), max(closed_at)) FROM opportunities").fetchone()
    return None if row is None or row[0] is None else pd.Timestamp(row[0])


def coverage(
    con: duckdb.DuckDBPyConnection,
    revenue_types: tuple[str, ...] | None = None,
    as_of: date | datetime | str | None = None,
    segment: str | None = None,
) -> pd.DataFrame:
    """One row per target period that started by `as_of` (default: the latest deal date):
    target, won to date, remaining target, open pipeline and deals, coverage (see module doc).
    With a `segment` (a region, as revline.vocabulary names them): that region's target rows
    (any case) against the deals of its accounts, as the revenue report reads a region."""
    when = pd.Timestamp(as_of) if as_of is not None else data_as_of(con)
    if when is None:
        return pd.DataFrame(columns=list(COVERAGE_COLUMNS))
    types = "" if not revenue_types else (
        " AND coalesce(revenue_type, 'new_business') IN (" + ", ".join(lit(t) for t in revenue_types) + ")")
    targets, params = COMPANY_TARGETS_SQL, []
    if segment not in (None, "", COMPANY):
        targets = ("SELECT period_start, period_end, revenue_target::DOUBLE AS revenue_target FROM targets "
                   "WHERE upper(segment) = upper(?)")
        types += f" AND account_id IN (SELECT account_id FROM accounts WHERE {region_sql('country')} = ?)"  # noqa: S608 - region_sql is constants; the region is bound
        params = [segment]
    df = con.execute(
        f"""
        WITH t AS ({targets}),
        m AS (SELECT period_start, period_end, revenue_target,
                     CASE WHEN ?::TIMESTAMP < period_end + INTERVAL 1 DAY THEN ?::TIMESTAMP
                          ELSE period_start::TIMESTAMP END AS measured_at
              FROM t WHERE period_start <= ?::TIMESTAMP),
        o AS (SELECT created_at, closed_at, coalesce(is_won, FALSE) AS is_won,
                     coalesce(is_closed, FALSE) OR coalesce(is_won, FALSE) AS is_closed,
                     revenue_usd::DOUBLE AS won_usd, pipeline_usd::DOUBLE AS usd
              FROM {opportunities_usd_sql(con)} o WHERE TRUE{types})
        SELECT m.period_start, m.period_end, m.measured_at, m.revenue_target,
               coalesce((SELECT sum(won_usd) FROM o WHERE o.is_won AND o.closed_at >= m.period_start
                         AND o.closed_at < m.measured_at), 0)::DOUBLE AS won_to_date,
               coalesce((SELECT sum(usd) FROM o WHERE o.created_at <= m.measured_at
                         AND NOT (o.is_closed AND o.closed_at IS NOT NULL AND o.closed_at < m.measured_at)),
                        0)::DOUBLE AS open_pipeline,
               (SELECT count(*) FROM o WHERE o.created_at <= m.measured_at
                         AND NOT (o.is_closed AND o.closed_at IS NOT NULL AND o.closed_at < m.measured_at)) AS open_deals
        FROM m ORDER BY m.period_start, m.period_end""",  # noqa: S608 - fixed expressions, types quoted by lit; dates bound
        [*params, when, when, when, *params],
    ).df()
    df["remaining_target"] = (df["revenue_target"] - df["won_to_date"]).clip(lower=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["coverage"] = np.where(df["remaining_target"] > 0, df["open_pipeline"] / df["remaining_target"], np.nan)
    for c in ("period_start", "period_end"):
        df[c] = pd.to_datetime(df[c]).dt.date
    return df[list(COVERAGE_COLUMNS)]

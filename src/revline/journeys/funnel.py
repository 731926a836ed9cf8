"""The account funnel: how many accounts reach each stage, convert onward, and how fast.

Why cumulative ("reached stage k or any later stage"): CRMs skip stages (a sales-sourced
account has an opportunity but never an MQL). Counting an account as having passed every
stage before the furthest one it reached keeps the funnel monotone and conversions within
0..1; velocity is measured only between stage dates that were actually recorded.

The cohort is the accounts whose first funnel stage falls between start and end, both days
included (a day's date means that whole day, as in every report and the level funnel).
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd

from revline.store.sql import lit
from revline.vocabulary import REVENUE_TYPES

NEW_BUSINESS_STAGES: tuple[str, ...] = ("first_touch", "lead", "mql", "sql", "opportunity", "won")
RECURRING_STAGES: tuple[str, ...] = ("opportunity", "won")
FUNNEL_COLUMNS: tuple[str, ...] = ("stage", "count", "conversion_to_next", "median_days_to_next")


def funnel_stages(revenue_type: str) -> tuple[str, ...]:
    """The funnel's stages for a revenue type: renewals and expansions start at the opportunity."""
    if revenue_type not in REVENUE_TYPES:
        raise ValueError(f"revenue_type must be one of {', '.join(REVENUE_TYPES)}, got {revenue_type!r}")
    return NEW_BUSINESS_STAGES if revenue_type == "new_business" else RECURRING_STAGES


def stage_dates(
    con: duckdb.DuckDBPyConnection, revenue_type: str = "new_business"
) -> pd.DataFrame:
    """One row per account, one column per stage: the first time the account reached it."""
    stages = funnel_stages(revenue_type)
    pre = [s for s in stages if s not in RECURRING_STAGES]
    pre_sql = ", ".join(lit(s) for s in pre) or "NULL"
    long = con.execute(
        f"""
        SELECT object_id AS account_id, milestone AS stage, min(occurred_at) AS at
        FROM milestones WHERE object_type = 'account' AND milestone IN ({pre_sql})
        GROUP BY 1, 2
        UNION ALL
        SELECT o.account_id, m.milestone, min(m.occurred_at)
        FROM milestones m JOIN opportunities o ON o.opportunity_id = m.object_id
        WHERE m.object_type = 'opportunity' AND m.milestone IN ('opportunity', 'won')
          AND coalesce(o.revenue_type, 'new_business') = ? AND o.account_id IS NOT NULL
        GROUP BY 1, 2
        """,  # noqa: S608 - stage names from this module's constants, quoted by lit
        [revenue_type],
    ).df()
    wide = long.pivot(index="account_id", columns="stage", values="at") if len(long) else pd.DataFrame()
    wide = wide.reindex(columns=list(stages))
    wide.columns.name = None
    return wide.sort_index()


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
    revenue_type: str = "new_business",
) -> pd.DataFrame:
    """Stage, accounts reached, conversion to the next stage, median days to the next stage, for
    the accounts whose first stage falls from `start` to `end`, both days included."""
    stages = list(funnel_stages(revenue_type))
    wide = stage_dates(con, revenue_type)
    if len(wide):
        entered = wide.min(axis=1)
        lo, hi = _day_start(start), _day_after(end)
        keep = pd.Series(True, index=wide.index)
        if lo is not None:
            keep &= entered >= lo
        if hi is not None:
            keep &= entered < hi
        wide = wide[keep]
    has = wide.notna().to_numpy() if len(wide) else np.zeros((0, len(stages)), dtype=bool)
    # reached k = recorded at k or at any later stage
    reached = np.flip(np.logical_or.accumulate(np.flip(has, axis=1), axis=1), axis=1)
    counts = reached.sum(axis=0).astype(int)
    rows = []
    for i, stage in enumerate(stages):
        conv = velocity = np.nan
        if i + 1 < len(stages):
            conv = counts[i + 1] / counts[i] if counts[i] else np.nan
            both = wide[[stage, stages[i + 1]]].dropna() if len(wide) else pd.DataFrame()
            if len(both):
                # a stage recorded before the previous one (an MQL date before the lead's creation
                # time) was reached by then: 0 days, never negative (issue #23.3)
                days = ((both[stages[i + 1]] - both[stage]).dt.total_seconds() / 86400.0).clip(lower=0.0)
                velocity = float(days.median())
        rows.append({"stage": stage, "count": int(counts[i]), "conversion_to_next": conv,
                     "median_days_to_next": velocity})
    return pd.DataFrame(rows, columns=list(FUNNEL_COLUMNS))

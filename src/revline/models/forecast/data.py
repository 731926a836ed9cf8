"""The store as it was known at `as_of`: deals created before it, their state and stage history then.

Why one loader for every part of the forecast: the backtest replays history by calling the model
with past dates, and a single place that cuts the store at `as_of` is what makes the replay honest.
The cut is the start of the `as_of` day (UTC): a deal created, closed or moved on that day is not
known yet. A deal closed after the cut is open at `as_of` (its outcome and close date are hidden);
stage changes after the cut are dropped. What the store cannot replay: an opportunity's amount and
revenue type are their latest values (the CRM exports carry no amount history). Money is USD by
the store's one rule (revline.store.fx): a deal closed before the cut at its close date's rate, an
open one at its creation date's (a later rate is not known yet), as the revenue reports count it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd

from revline.store.fx import opportunities_usd_sql
from revline.vocabulary import ATTRIBUTED_REVENUE_TYPES

FORECAST_TYPES: tuple[str, ...] = ATTRIBUTED_REVENUE_TYPES
"""Revenue types forecast (contraction books no revenue, so it has no forecast)."""
DAY = 86400.0


def cutoff(as_of: date) -> datetime:
    """The instant the knowledge ends: the start of the `as_of` day."""
    return datetime.combine(as_of, time())


@dataclass(frozen=True)
class Snapshot:
    """Deals known at `as_of` (one row each) and their stage history before it.

    deals: opportunity_id, account_id, revenue_type, amount_usd, created_at, closed_at (NaT while
    open at as_of), is_won (only meaningful when closed_at is set), stage (at as_of), stage_since.
    history: opportunity_id, stage, entered_at (entries before the cut, closing stages excluded),
    ordered by deal and time; a tie (the CRM's first stage entered with the creation) puts the
    generic 'opportunity' stage first so the CRM's own stage is the current one, deterministically.
    """

    as_of: date
    deals: pd.DataFrame
    history: pd.DataFrame
    undated_closed: int  # closed deals without a close date: cannot be placed in time, left out


def load(con: Any, as_of: date) -> Snapshot:
    """Cut the store at the start of `as_of` (see the module doc)."""
    cut = cutoff(as_of)
    types = list(FORECAST_TYPES)
    marks = ", ".join("?" for _ in types)
    deals = con.execute(
        f"""SELECT opportunity_id, account_id, revenue_type,
                   (CASE WHEN closed_at < ? THEN revenue_usd ELSE pipeline_usd END)::DOUBLE AS amount_usd, created_at,
                   CASE WHEN closed_at < ? THEN closed_at END AS closed_at,
                   CASE WHEN closed_at < ? THEN coalesce(is_won, FALSE) ELSE FALSE END AS is_won,
                   coalesce(is_closed, FALSE) AND closed_at IS NULL AS undated
            FROM {opportunities_usd_sql(con)} o
            WHERE created_at < ? AND revenue_type IN ({marks})
            ORDER BY opportunity_id""",  # noqa: S608 - fixed expressions (store.fx, placeholders); values bound
        [cut, cut, cut, cut, *types],
    ).df()
    undated = int(deals["undated"].sum())
    deals = deals[~deals["undated"]].drop(columns="undated").reset_index(drop=True)
    history = con.execute(
        """SELECT e.object_id AS opportunity_id, e.stage, min(e.entered_at) AS entered_at
           FROM stage_events e JOIN opportunities o ON o.opportunity_id = e.object_id
           WHERE e.object_type = 'opportunity' AND e.entered_at < ? AND o.created_at < ?
                 AND e.stage NOT IN ('won', 'lost')
           GROUP BY 1, 2
           ORDER BY 1, 3, e.stage = 'opportunity' DESC, 2""",
        [cut, cut],
    ).df()
    deals = _current_stage(deals, history)
    return Snapshot(as_of=as_of, deals=deals, history=history, undated_closed=undated)


def _current_stage(deals: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """The last stage entered before the cut (the 'opportunity' creation stage if none)."""
    out = deals.copy()
    if history.empty:
        out["stage"] = "opportunity"
        out["stage_since"] = out["created_at"]
        return out
    # the SQL order breaks ties (creation stage first, then by name): keep it, sort nothing here
    last = history.groupby("opportunity_id", sort=False).tail(1)
    last = last.rename(columns={"entered_at": "stage_since"})
    out = out.merge(last, on="opportunity_id", how="left")
    out["stage"] = out["stage"].fillna("opportunity")
    out["stage_since"] = out["stage_since"].fillna(out["created_at"])
    return out


def days_between(later: Any, earlier: Any) -> np.ndarray:
    """(later - earlier) in fractional days, element-wise."""
    return (pd.to_datetime(later) - pd.to_datetime(earlier)) / pd.Timedelta(days=1)


def open_deals(snap: Snapshot) -> pd.DataFrame:
    """Deals still open at `as_of`."""
    return snap.deals[snap.deals["closed_at"].isna()].reset_index(drop=True)


def won_between(snap: Snapshot, start: date, end: date) -> pd.Series:
    """Won revenue (USD) per revenue type closed in [start, end] and before the cut."""
    d = snap.deals
    lo, hi = cutoff(start), cutoff(end + timedelta(days=1))
    sel = d["is_won"] & (d["closed_at"] >= lo) & (d["closed_at"] < hi)
    return d[sel].groupby("revenue_type")["amount_usd"].sum().reindex(list(FORECAST_TYPES), fill_value=0.0)


def last_data_day(con: Any) -> date | None:
    """The last day the store has an opportunity created or closed on (None: no opportunities)."""
    row = con.execute("SELECT greatest(max(created_at), max(closed_at)) FROM opportunities").fetchone()
    return None if row is None or row[0] is None else pd.Timestamp(row[0]).date()


def default_as_of(con: Any, today: date | None = None) -> date:
    """Today, or the day after the store's last deal event when the store ends earlier (a demo or
    an export from the past): the forecast is then of what the store cannot know yet."""
    today = today or date.today()
    last = last_data_day(con)
    return today if last is None else min(today, last + timedelta(days=1))


__all__ = ["DAY", "FORECAST_TYPES", "Snapshot", "cutoff", "days_between", "default_as_of", "last_data_day", "load",
           "open_deals", "won_between"]

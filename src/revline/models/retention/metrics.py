"""Gross and net revenue retention, logo churn, expansion and contraction, by cohort or segment.

Definitions (the ones SaaS boards use; per account, then summed):
- base: customers with a known annual value at the period start (a customer from before the
  store's records enters the base once its first renewal or deal states its value);
- arr_start / arr_end: annual value at the period's start and end (0 once churned);
- churn_usd: arr_start of the customers lost in the period (logo churn = their count / base);
- contraction_usd: max(arr_start - arr_end, 0) of the customers kept;
- expansion_usd: max(arr_end - arr_start, 0) (upsells and price uplifts at renewal);
- GRR = (arr_start - churn - contraction) / arr_start = sum(min(end, start)) / sum(start), never above 1;
- NRR = (arr_start - churn - contraction + expansion) / arr_start = sum(end) / sum(start).
Customers won during the period are not in its base (they are new business, not retention).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from revline.models.retention.contracts import Contracts, as_of_ts, build_contracts
from revline.models.retention.features import account_segments

BY = ("cohort", "industry", "size_band", "region")
SEGMENTS = ("industry", "size_band", "region")
METRIC_COLUMNS = ["customers", "arr_start", "churned", "churn_usd", "contraction_usd", "expansion_usd", "arr_end",
                  "grr", "nrr", "logo_churn"]
ALL = "all"


def arr_at(events: pd.DataFrame, t: pd.Timestamp) -> pd.Series:
    """Each account's annual value just before `t` (its last change before then); NaN: not known."""
    before = events[events["at"] < t]
    if before.empty:
        return pd.Series(dtype=float)
    return before.groupby("account_id", sort=True)["arr_after"].last()


def account_retention(contracts: Contracts, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """One row per customer in the base at `start`: arr_start, arr_end, churned, expansion, contraction."""
    ev = contracts.arr_events.sort_values(["account_id", "at"], kind="stable")
    s = arr_at(ev, start)
    e = arr_at(ev, end)
    s = s[s.notna() & (s > 0)]
    out = pd.DataFrame({"account_id": s.index, "arr_start": s.to_numpy()})
    out["arr_end"] = e.reindex(s.index).fillna(0.0).to_numpy()  # NaN after a known start cannot happen; be safe
    churn = ev[(ev.kind == "churn") & (ev["at"] >= start) & (ev["at"] < end)]
    lost = set(churn["account_id"])
    out["churned"] = out["account_id"].isin(lost) & (out["arr_end"] <= 0)
    kept = ~out["churned"]
    out["churn_usd"] = np.where(out["churned"], out["arr_start"], 0.0)
    out["contraction_usd"] = np.where(kept, np.maximum(out["arr_start"] - out["arr_end"], 0.0), 0.0)
    out["expansion_usd"] = np.where(kept, np.maximum(out["arr_end"] - out["arr_start"], 0.0), 0.0)
    out.loc[out["churned"], "arr_end"] = 0.0
    return out


def _summarise(g: pd.DataFrame) -> pd.Series:
    start = float(g["arr_start"].sum())
    churn, contr, exp = (float(g[c].sum()) for c in ("churn_usd", "contraction_usd", "expansion_usd"))
    n = len(g)
    return pd.Series({
        "customers": n, "arr_start": start, "churned": int(g["churned"].sum()), "churn_usd": churn,
        "contraction_usd": contr, "expansion_usd": exp, "arr_end": float(g["arr_end"].sum()),
        "grr": (start - churn - contr) / start if start > 0 else np.nan,
        "nrr": (start - churn - contr + exp) / start if start > 0 else np.nan,
        "logo_churn": g["churned"].sum() / n if n else np.nan,
    })


def retention_table(con: duckdb.DuckDBPyConnection, as_of: date | datetime | str | None = None, *,
                    by: Literal["cohort", "industry", "size_band", "region"] = "cohort", months: int = 12,
                    contracts: Contracts | None = None) -> pd.DataFrame:
    """Retention over the `months` before `as_of` (default: the day after the store's last deal
    event), one row per group of `by` plus an 'all' row; columns METRIC_COLUMNS."""
    if by not in BY:
        raise ValueError(f"retention by {by!r}: choose one of {', '.join(BY)}")
    end = as_of_ts(as_of) if as_of is not None else default_as_of(con)
    contracts = contracts if contracts is not None else build_contracts(con, end)
    start = end - pd.DateOffset(months=months)
    acc = account_retention(contracts, start, end)
    groups = contracts.accounts.set_index("account_id")["cohort"] if by == "cohort" else \
        account_segments(con).set_index("account_id")[by]
    acc[by] = acc["account_id"].map(groups).fillna("(unknown)")
    cols = [by] + METRIC_COLUMNS
    if acc.empty:
        return pd.DataFrame(columns=cols)
    rows = [pd.Series({by: k, **_summarise(g).to_dict()}) for k, g in acc.groupby(by, sort=True)]
    rows.append(pd.Series({by: ALL, **_summarise(acc).to_dict()}))
    out = pd.DataFrame(rows)[cols]
    out[["customers", "churned"]] = out[["customers", "churned"]].astype(int)
    return out.reset_index(drop=True)


def default_as_of(con: duckdb.DuckDBPyConnection) -> pd.Timestamp:
    """The day after the store's latest opportunity event (creation or close): 'now' for the data."""
    row = con.execute("SELECT max(greatest(coalesce(closed_at, created_at), created_at)) FROM opportunities").fetchone()
    last = row[0] if row else None
    if last is None:
        return pd.Timestamp(date.today())
    return pd.Timestamp(last).normalize() + pd.Timedelta(days=1)


def quarterly_retention(con: duckdb.DuckDBPyConnection, as_of: date | datetime | str | None = None, *,
                        quarters: int = 4, contracts: Contracts | None = None) -> pd.DataFrame:
    """Trailing-twelve-month GRR, NRR and logo churn at the end of each of the last `quarters`
    quarters (columns: quarter_end, plus METRIC_COLUMNS of the 'all' row)."""
    end = as_of_ts(as_of) if as_of is not None else default_as_of(con)
    contracts = contracts if contracts is not None else build_contracts(con, end)
    q_end = pd.Timestamp(year=end.year, month=3 * ((end.month - 1) // 3) + 1, day=1)
    rows = []
    for k in range(quarters - 1, -1, -1):
        t = q_end - pd.DateOffset(months=3 * k)
        acc = account_retention(contracts, t - pd.DateOffset(months=12), t)
        if acc.empty:
            continue
        rows.append({"quarter_end": (t - pd.Timedelta(days=1)).date(), **_summarise(acc).to_dict()})
    return pd.DataFrame(rows, columns=["quarter_end"] + METRIC_COLUMNS)


__all__ = ["ALL", "BY", "METRIC_COLUMNS", "SEGMENTS", "account_retention", "arr_at", "default_as_of",
           "quarterly_retention", "retention_table"]

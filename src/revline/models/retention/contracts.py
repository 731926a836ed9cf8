"""Customer contracts rebuilt from the store's opportunities, as they were known on a date.

Why rebuild contracts from deals: the canonical store has no contract table, only opportunities
typed new_business, renewal, expansion and contraction. A won new-business deal starts a
contract on its close date; a won renewal starts the next term on its close date (the
anniversary) at the renewal's amount; a lost renewal ends the customer (churn); won expansions
and contractions move the annual value between renewals. Terms are a calendar year
(`TERM_YEARS`), the common SaaS contract and the demo company's.

"Known on `as_of`" means: only opportunities created before `as_of` (midnight UTC, the start of
that day) count, and an outcome (won/lost, close date) counts only if the deal closed before
`as_of`; a deal closed later was open then. So a replay at the start of a past quarter sees
exactly what a CRM showed that morning (amounts as they are now: the store keeps no amount
history for open deals).

Money is converted to USD by the project's one rule, revline.store.fx (dated rates when loaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import groupby
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd

from revline.models.retention.uplift import renewal_uplift
from revline.store.fx import opportunities_usd_sql

TERM_YEARS = 1
"""Contract term in years: a renewal falls due on each anniversary of the term's start."""
DEFAULT_LEAD_DAYS = 60
"""Days between a renewal opportunity's creation and its due date when the store holds no
closed renewal to measure it from (renewal desks commonly open them 60-90 days ahead)."""
EARLIER = "earlier"
"""The cohort of customers who were customers before the store's records begin (their first
record is a renewal or an expansion, not a won new-business deal)."""
RETENTION_TYPES = ("new_business", "renewal", "expansion", "contraction")




def as_of_ts(as_of: date | datetime | str) -> pd.Timestamp:
    """`as_of` as a timestamp at the start of its day (a datetime is kept as it is)."""
    ts = pd.Timestamp(as_of)
    if isinstance(as_of, date) and not isinstance(as_of, datetime):
        ts = pd.Timestamp(datetime.combine(as_of, time()))
    return ts


def quarter_label(ts: pd.Timestamp) -> str:
    """'2025-Q3' for a timestamp in July-September 2025 (the cohort's name)."""
    return f"{ts.year}-Q{(ts.month - 1) // 3 + 1}"


def opportunities_as_of(con: duckdb.DuckDBPyConnection, as_of: date | datetime | str) -> pd.DataFrame:
    """Retention-relevant opportunities created before `as_of`, amounts in USD, outcomes masked
    when they closed on or after `as_of` (they were open then)."""
    ts = as_of_ts(as_of)
    # money by the project's one rule (revline.store.fx): a deal closed by then at its close date's
    # rate, one still open then at its creation date's (never a rate of a later day it was closed on)
    df = con.execute(
        f"""
        SELECT opportunity_id, account_id, revenue_type,
               (CASE WHEN is_closed AND closed_at < ? THEN revenue_usd ELSE pipeline_usd END)::DOUBLE AS amount_usd,
               coalesce(created_at, closed_at) AS created_at,
               CASE WHEN is_closed AND closed_at < ? THEN closed_at END AS closed_at,
               coalesce(is_closed AND closed_at < ?, false) AS is_closed,
               coalesce(is_closed AND closed_at < ? AND is_won, false) AS is_won
        FROM {opportunities_usd_sql(con)} o
        WHERE account_id IS NOT NULL AND revenue_type IN (SELECT unnest(?::VARCHAR[]))
          AND coalesce(created_at, closed_at) < ?
        ORDER BY account_id, coalesce(closed_at, created_at), opportunity_id
        """,  # noqa: S608 - the fx rule's fixed query text; values bound
        [ts, ts, ts, ts, list(RETENTION_TYPES), ts],
    ).df()
    df["amount_usd"] = df["amount_usd"].astype(float).fillna(0.0)
    return df


@dataclass
class Contracts:
    """The contract book as known on `as_of`.

    `accounts`: one row per customer (ever): account_id, cohort (start quarter or EARLIER),
    first_start, status (active / churned), term_start (NaT when no term start is on record),
    arr_usd (current annual value), due_date (next renewal), open_renewal_id,
    open_renewal_created, churned_at.
    `arr_events`: every change of a customer's annual value: account_id, at, kind (start,
    renewal, expansion, contraction, churn), arr_before, arr_after.
    `renewals`: closed renewal opportunities (the churn model's training rows): opportunity_id,
    account_id, created_at, closed_at, won, amount_usd, renewal_no (1 = the account's first
    renewal on record), first_record (its first record was this renewal: an EARLIER customer).
    """

    as_of: pd.Timestamp
    accounts: pd.DataFrame
    arr_events: pd.DataFrame
    renewals: pd.DataFrame
    lead_days: float
    uplift: float = 1.0  # renewals' price uplift measured as of then (retention.uplift)


def _anniversary(start: pd.Timestamp, years: int = TERM_YEARS) -> pd.Timestamp:
    return start + pd.DateOffset(years=years)


def build_contracts(con: duckdb.DuckDBPyConnection, as_of: date | datetime | str) -> Contracts:
    """Replay every retention-relevant opportunity known on `as_of` into contracts."""
    ts = as_of_ts(as_of)
    opps = opportunities_as_of(con, ts)
    # the lead from renewal creation to due date, measured on closed renewals; those created on the
    # records' first day are left out: opened earlier, they were loaded (or clipped) that day
    first_day = opps["created_at"].min().normalize() if len(opps) else None
    closed_ren = opps[(opps.revenue_type == "renewal") & opps.is_closed & (opps.created_at.dt.normalize() != first_day)]
    lead = (closed_ren.closed_at.dt.normalize() - closed_ren.created_at.dt.normalize()).dt.days
    lead_days = float(np.median(lead)) if len(lead) else float(DEFAULT_LEAD_DAYS)

    acc_rows: list[dict] = []
    ev_rows: list[dict] = []
    ren_rows: list[dict] = []
    records = opps.to_dict("records")
    for account_id, grp in groupby(records, key=lambda r: r["account_id"]):
        g = list(grp)
        st = {"account_id": account_id, "cohort": None, "first_start": pd.NaT, "status": None,
              "term_start": pd.NaT, "arr_usd": np.nan, "due_date": pd.NaT, "open_renewal_id": None,
              "open_renewal_created": pd.NaT, "open_renewal_usd": np.nan, "churned_at": pd.NaT}
        arr = np.nan
        n_ren = 0
        closed = sorted((r for r in g if r["is_closed"] and (r["is_won"] or r["revenue_type"] == "renewal")),
                        key=lambda r: (r["closed_at"], r["opportunity_id"]))
        for r in closed:
            o = SimpleNamespace(**r)
            before = arr
            if o.revenue_type == "new_business":
                if st["cohort"] is None:
                    st["cohort"], st["first_start"] = quarter_label(o.closed_at), o.closed_at
                arr, kind = o.amount_usd, "start"
                st["term_start"], st["status"], st["churned_at"] = o.closed_at, "active", pd.NaT
            elif o.revenue_type == "renewal":
                n_ren += 1
                first = st["cohort"] is None
                if first:
                    st["cohort"], st["first_start"] = EARLIER, pd.NaT
                ren_rows.append({"opportunity_id": o.opportunity_id, "account_id": account_id,
                                 "created_at": o.created_at, "closed_at": o.closed_at, "won": bool(o.is_won),
                                 "amount_usd": o.amount_usd, "renewal_no": n_ren, "first_record": first})
                if o.is_won:
                    arr, kind = o.amount_usd, "renewal"
                    st["term_start"], st["status"] = o.closed_at, "active"
                else:
                    arr, kind = 0.0, "churn"
                    st["status"], st["churned_at"] = "churned", o.closed_at
            elif o.revenue_type == "expansion":
                if st["cohort"] is None:
                    st["cohort"], st["status"] = EARLIER, "active"
                arr, kind = (0.0 if np.isnan(arr) else arr) + o.amount_usd, "expansion"
                if np.isnan(before):
                    arr = np.nan  # a customer from before the records: its contract value is unknown
            else:  # contraction: the amount is the reduction
                arr, kind = (arr - abs(o.amount_usd)) if not np.isnan(arr) else np.nan, "contraction"
            ev_rows.append({"account_id": account_id, "at": o.closed_at, "kind": kind,
                            "arr_before": before, "arr_after": arr})
        open_ren = sorted((r for r in g if r["revenue_type"] == "renewal" and not r["is_closed"]),
                          key=lambda r: (r["created_at"], r["opportunity_id"]))
        if open_ren:
            o = SimpleNamespace(**open_ren[-1])
            st["open_renewal_id"], st["open_renewal_created"] = o.opportunity_id, o.created_at
            st["open_renewal_usd"] = o.amount_usd
            if st["cohort"] is None:
                st["cohort"] = EARLIER
            if st["status"] is None:
                st["status"] = "active"
        if st["status"] is None:
            continue  # a prospect: no won deal, no renewal
        st["arr_usd"] = arr
        if st["status"] == "active":
            if pd.notna(st["term_start"]):
                due = _anniversary(st["term_start"])
            elif pd.notna(st["open_renewal_created"]):
                due = st["open_renewal_created"].normalize() + pd.Timedelta(days=round(lead_days))
            else:
                due = pd.NaT  # an earlier customer seen only through an expansion: no term on record
            if pd.notna(st["open_renewal_created"]) and pd.notna(due):
                due = max(due, ts)  # a renewal still open past its due date is due now
            st["due_date"] = due
            if pd.notna(st["open_renewal_usd"]) and st["open_renewal_usd"] > 0:
                st["arr_usd"] = st["open_renewal_usd"]  # the value the renewal desk is working on
        acc_rows.append(st)
    accounts = pd.DataFrame(acc_rows, columns=[
        "account_id", "cohort", "first_start", "status", "term_start", "arr_usd", "due_date", "open_renewal_id",
        "open_renewal_created", "open_renewal_usd", "churned_at"])
    for c in ("first_start", "term_start", "due_date", "open_renewal_created", "churned_at"):
        accounts[c] = pd.to_datetime(accounts[c])
    arr_events = pd.DataFrame(ev_rows, columns=["account_id", "at", "kind", "arr_before", "arr_after"])
    renewals = pd.DataFrame(ren_rows, columns=["opportunity_id", "account_id", "created_at", "closed_at", "won",
                                               "amount_usd", "renewal_no", "first_record"])
    return Contracts(as_of=ts, accounts=accounts, arr_events=arr_events, renewals=renewals, lead_days=lead_days,
                     uplift=renewal_uplift(opps, ts))


__all__ = ["Contracts", "DEFAULT_LEAD_DAYS", "EARLIER", "TERM_YEARS", "as_of_ts", "build_contracts",
           "opportunities_as_of", "quarter_label"]

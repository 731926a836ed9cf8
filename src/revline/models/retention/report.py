"""Retention as the interfaces show it: one summary (tables, renewals due, the model's state) and
the HTML report section. Pure functions over the store; the CLI, the API and the HTML report
all call `summarize`, so they show the same numbers."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd

from revline.models.retention.contracts import as_of_ts, build_contracts
from revline.models.retention.due import bookings_distribution, due_with_draws, outlook
from revline.models.retention.metrics import SEGMENTS, default_as_of, quarterly_retention, retention_table

GROUPINGS = ("cohort", "segment", *SEGMENTS)
"""--by: cohort, segment (industry, size band and region together), or one segment."""


def due_window(as_of: pd.Timestamp) -> tuple[date, date]:
    """The first full calendar quarter starting on or after `as_of` (the 'next quarter' a CRO plans)."""
    q = pd.Timestamp(year=as_of.year, month=3 * ((as_of.month - 1) // 3) + 1, day=1)
    if q < as_of.normalize():
        q = q + pd.DateOffset(months=3)
    return q.date(), (q + pd.DateOffset(months=3) - pd.Timedelta(days=1)).date()


@dataclass(frozen=True)
class RetentionSummary:
    """Everything the retention views show, computed once."""

    as_of: date
    months: int
    tables: dict[str, pd.DataFrame]  # grouping -> retention_table
    quarterly: pd.DataFrame  # trailing-12-month GRR/NRR at each quarter end
    due: pd.DataFrame  # renewals due in due_window (renewals_due columns + open_renewal_id)
    due_window: tuple[date, date]
    bookings: dict[str, float]  # renewal bookings of that window: mean, p10, p50, p90, count_*
    outlook: pd.DataFrame  # expected renewal bookings per quarter, the next four quarters (due.outlook)
    model: dict[str, float]  # closed renewals it learned from, renewal rate, engagement effect
    notes: tuple[str, ...] = field(default_factory=tuple)


def summarize(con: duckdb.DuckDBPyConnection, as_of: date | datetime | str | None = None, *, by: str = "cohort",
              months: int = 12) -> RetentionSummary:
    """Retention over the `months` before `as_of` by `by` (GROUPINGS), the quarterly series, the renewals
    due in the next quarter (`due_window`) with their bookings distribution, and the model's state."""
    if by not in GROUPINGS:
        raise ValueError(f"retention by {by!r}: choose one of {', '.join(GROUPINGS)}")
    ts = as_of_ts(as_of) if as_of is not None else default_as_of(con)
    contracts = build_contracts(con, ts)
    groups = list(SEGMENTS) if by == "segment" else [by]
    tables = {g: retention_table(con, ts, by=g, months=months, contracts=contracts) for g in groups}  # type: ignore[arg-type]
    window = due_window(ts)
    due = due_with_draws(con, ts, *window)
    dist = bookings_distribution(due)
    m = due.model
    slope = m.slope_per_log_touch()
    p_avg = float(np.mean(m.p_draws(np.array([np.expm1(m.x_mean)]))))  # the prior's when nothing closed yet
    notes = []
    if m.n < 20:
        notes.append(f"only {m.n} closed renewal(s) on record: renewal probabilities lean on the prior "
                     f"(median 80 %); they firm up as renewals close")
    if due.contracts.uplift != 1.0:
        notes.append(f"renewals not opened yet are expected to book at {due.contracts.uplift:.3f}x their contract value "
                     f"(the price uplift of the store's renewals of the last year)")
    unknown = contracts.accounts[(contracts.accounts.status == "active") & contracts.accounts.due_date.isna()]
    if len(unknown):
        notes.append(f"{len(unknown)} customer(s) known only through an expansion have no contract date on record "
                     f"and are not in the renewals due")
    model = {"renewals": float(m.n), "renewed": float(m.renewed), "p_at_average_engagement": p_avg,
             "engagement_effect": slope[0], "engagement_effect_low": slope[1], "engagement_effect_high": slope[2],
             "lead_days": contracts.lead_days}
    names = con.execute("SELECT account_id, name AS account_name FROM accounts").df()
    listed = due.frame.drop(columns=["touches_90d", "renewal_no_ahead"]).merge(names, on="account_id", how="left")
    return RetentionSummary(as_of=ts.date(), months=months, tables=tables,
                            quarterly=quarterly_retention(con, ts, contracts=contracts), due=listed, due_window=window,
                            outlook=outlook(con, ts, window[0], 4),
                            bookings=dist, model=model, notes=tuple(notes))


def _pct(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"


def _usd(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"${x:,.0f}"


def _table(df: pd.DataFrame, key: str) -> str:
    head = (f"<tr><th>{html.escape(key.replace('_', ' '))}</th><th>customers</th><th>ARR start</th><th>churned</th>"
            "<th>expansion</th><th>contraction</th><th>GRR</th><th>NRR</th><th>logo churn</th></tr>")
    rows = "".join(
        f"<tr><td>{html.escape(str(getattr(r, key)))}</td><td>{int(r.customers)}</td><td>{_usd(r.arr_start)}</td>"
        f"<td>{int(r.churned)}</td><td>{_usd(r.expansion_usd)}</td><td>{_usd(r.contraction_usd)}</td>"
        f"<td data-value=\"{r.grr}\">{_pct(r.grr)}</td><td data-value=\"{r.nrr}\">{_pct(r.nrr)}</td>"
        f"<td>{_pct(r.logo_churn)}</td></tr>" for r in df.itertuples(index=False))
    return f"<table>{head}{rows}</table>"


def html_section(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str] | None:
    """(id, title, html) of the report's retention section; None when the store has no customer."""
    s = summarize(con, by="cohort")
    cohort = s.tables["cohort"]
    if cohort.empty and s.due.empty:
        return None
    w0, w1 = s.due_window
    b = s.bookings
    parts = [
        f"<p>Trailing {s.months} months to {s.as_of.isoformat()}. GRR keeps what customers paid at the start "
        "(churn and contraction lost, expansion ignored); NRR adds expansion. Cohort: the quarter a customer's first "
        "contract started (<em>earlier</em>: customers from before the records).</p>",
        _table(cohort, "cohort") if not cohort.empty else "<p>No customer with a known contract value a year ago.</p>",
        f"<h3>Renewals due {w0.isoformat()} .. {w1.isoformat()}</h3>",
        f"<p>{len(s.due)} contracts worth {_usd(float(s.due.arr_usd.sum()))}; expected renewal bookings "
        f"{_usd(b['mean'])} (80 % interval {_usd(b['p10'])} – {_usd(b['p90'])}). Renewal probability at average "
        f"engagement {_pct(s.model['p_at_average_engagement'])}, learned from {int(s.model['renewals'])} closed renewals "
        "(Bayesian logistic regression on the account's touchpoints in the 90 days before the renewal; see docs/retention.md).</p>",
    ]
    parts += [f"<p><em>{html.escape(n)}</em></p>" for n in s.notes]
    return "retention", "Retention and renewals", "\n".join(parts)


__all__ = ["GROUPINGS", "RetentionSummary", "due_window", "html_section", "summarize"]

"""The read API's adapter over the report functions: plain values in, JSON-ready dicts out.

Why nothing is computed here: the CLI, the HTML report, the REST API and the dashboard must show
the same numbers, so run selection, conversion dates, USD conversion, targets and KPIs live in
`revline.reports` (tables, roi, revenue, accounts) and `revline.journeys`; this module only
renames their columns to the API's fields and turns pandas values into JSON ones (NaN -> null,
naive UTC times -> RFC 3339 with Z). Each function takes an open DuckDB cursor and is
unit-testable without HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

import duckdb
import pandas as pd

from revline.journeys import funnel as journeys_funnel
from revline.journeys import timeline
from revline.reports import accounts as account_reports
from revline.reports.revenue import headline, target_periods
from revline.reports.roi import roi_table, roi_totals
from revline.reports.tables import NotFound, attribution_summary, available_runs, require_run, resolve_model

__all__ = ["NotFound", "account_journey", "attribution", "funnel", "kpis", "model_runs", "revenue_vs_target",
           "roi", "search_accounts"]


def _value(value: Any) -> Any:
    """A pandas/numpy cell as the JSON value the response models expect."""
    if value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None  # an undefined ratio is null: JSON has no NaN
    return value


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _value(v) for k, v in row.items()} for row in df.to_dict("records")]


# ---------------------------------------------------------------- model runs
def model_runs(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every stored run, grouped by model, milestone and revenue type, newest first within each."""
    runs = available_runs(cur).sort_values(["model", "milestone", "revenue_type", "created_at"],
                                           ascending=[True, True, True, False], na_position="first")
    return _records(runs[["run_id", "model", "milestone", "revenue_type", "opportunities", "unattributed", "created_at"]])


# ---------------------------------------------------------------- attribution
def attribution(cur: duckdb.DuckDBPyConnection, *, model: str | None, milestone: str, revenue_type: str | None,
                by: str, start: date | None, end: date | None) -> dict[str, Any]:
    """`reports.tables.attribution_summary` of one model (default: linear, else the first)."""
    model = resolve_model(cur, model, milestone)
    table = attribution_summary(cur, by, model, milestone, revenue_type, start, end)  # type: ignore[arg-type]
    if by == "month":
        table["key"] = [k if isinstance(k, str) else pd.Timestamp(k).strftime("%Y-%m") for k in table["key"]]
    rows = _records(table[["key", "credit", "revenue_credit", "conversions", "share"]])
    return {
        "model": model, "milestone": milestone, "revenue_type": revenue_type, "by": by, "start": start, "end": end,
        "run_ids": list(require_run(cur, model, milestone, revenue_type).run_ids), "rows": rows,
        "total_credit": float(table["credit"].sum()), "total_revenue_credit": float(table["revenue_credit"].sum()),
    }


# ---------------------------------------------------------------- ROI
def roi(cur: duckdb.DuckDBPyConnection, *, model: str | None, start: date | None, end: date | None) -> dict[str, Any]:
    """`reports.roi.roi_table` at `won` over every revenue type, per channel, with its total row."""
    model = resolve_model(cur, model, "won")
    table = roi_table(cur, model=model, milestone="won", revenue_type=None, by="channel", start=start, end=end)
    rows = [_roi_row(str(r["channel"]), r) for r in _records(table)]
    total = _roi_row("total", roi_totals(table))
    return {"model": model, "start": start, "end": end, "rows": rows, "total": total}


def _roi_row(channel: str, r: dict[str, Any]) -> dict[str, Any]:
    return {
        "channel": channel, "spend": float(r["spend"]), "attributed_revenue": float(r["revenue"]),
        "attributed_pipeline": float(r["pipeline"]), "roi": r["roi"], "roas": r["roas"],
        "cac": r.get("cac"), "payback_months": r.get("payback_months"),
    }


# ---------------------------------------------------------------- funnel
def funnel(cur: duckdb.DuckDBPyConnection, *, revenue_type: str, start: date | None, end: date | None) -> dict[str, Any]:
    """`revline.journeys.funnel`: accounts reaching each stage, conversion and days to the next."""
    table = journeys_funnel(cur, start=start, end=end, revenue_type=revenue_type)
    stages = [{"stage": str(r["stage"]), "count": int(r["count"]), "conversion_to_next": r["conversion_to_next"],
               "median_days_to_next": r["median_days_to_next"]} for r in _records(table)]
    return {"revenue_type": revenue_type, "start": start, "end": end, "stages": stages}


# ---------------------------------------------------------------- revenue vs target
def revenue_vs_target(cur: duckdb.DuckDBPyConnection, *, segment: str, start: date | None,
                      end: date | None) -> dict[str, Any]:
    """`reports.revenue.target_periods`: each target period of `segment` with its USD actuals."""
    table = target_periods(cur, segment, start, end)
    rows = _records(table)
    for r in rows:
        r["period_start"], r["period_end"] = r["period_start"].date(), r["period_end"].date()
    return {"segment": segment, "start": start, "end": end, "rows": rows}


def kpis(cur: duckdb.DuckDBPyConnection, *, model: str | None, start: date | None, end: date | None,
         roi_fn: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """The dashboard's tiles: `reports.revenue.headline` beside the ROI total of `roi`
    (`roi_fn`: how to get the ROI result, e.g. through the API's cache)."""
    try:
        r = (roi_fn or roi)(cur, model=model, start=start, end=end)
        total, model_name = r["total"], r["model"]
    except NotFound:
        total, model_name = {"spend": 0.0, "attributed_revenue": 0.0, "roi": None}, model
    return {
        "model": model_name, "start": start, "end": end, **headline(cur, start, end),
        "spend": total["spend"], "attributed_revenue": total["attributed_revenue"], "roi": total["roi"],
    }


# ---------------------------------------------------------------- accounts
def search_accounts(cur: duckdb.DuckDBPyConnection, *, search: str, limit: int) -> list[dict[str, Any]]:
    """Accounts whose name, domain or id contains `search` (`reports.accounts.find_accounts`)."""
    return _records(account_reports.find_accounts(cur, search, limit))


def account_journey(cur: duckdb.DuckDBPyConnection, account_id: str) -> dict[str, Any]:
    """The account's touches and milestones in time order (`revline.journeys.timeline`)."""
    found = {k: _value(v) for k, v in account_reports.account(cur, account_id).items()}
    events = []
    for r in _records(timeline(cur, account_id)):
        touch = r["kind"] == "touch"
        events.append({
            "occurred_at": r["occurred_at"],
            "kind": "touch" if touch else "stage",
            "label": _str(r["touch_type"]) or "touch" if touch else _str(r["milestone"]) or "milestone",
            "channel": _str(r["channel"]), "campaign_id": _str(r["campaign_id"]), "person_id": _str(r["person_id"]),
            "opportunity_id": _str(r["opportunity_id"]),
            "ref": _str(r["touchpoint_id"]) if touch else f"{_str(r['object_type'])}:{_str(r['milestone'])}",
        })
    return {"account": found, "events": events}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)

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
from revline.reports.campaigns import check_level
from revline.reports.deals import defaulted_types_note
from revline.reports.definitions import definition, period_words
from revline.reports.revenue import headline, target_periods
from revline.reports.roi import roi_table, roi_totals
from revline.reports.segments import normal_segment, region_or_none
from revline.reports.tables import NotFound, attribution_summary, available_runs, require_run, resolve_model
from revline.vocabulary import ALL_REVENUE, ALL_SEGMENTS, DEFAULT_REVENUE_TYPE, LEAD_MILESTONES, UNATTRIBUTED

__all__ = ["NotFound", "account_journey", "attribution", "funnel", "funnel_level", "kpis", "model_runs", "revenue_vs_target",
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
                by: str, start: date | None, end: date | None, segment: str | None = None,
                campaign_level: str | None = None) -> dict[str, Any]:
    """`reports.tables.attribution_summary` of one model (default: linear, else the first);
    by campaign each row carries the campaign's name beside its id (`key`)."""
    model = resolve_model(cur, model, milestone)
    rt = revenue_type or DEFAULT_REVENUE_TYPE
    level = check_level(campaign_level)
    table = attribution_summary(cur, by, model, milestone, rt, start, end,  # type: ignore[arg-type]
                                segment=segment, campaign_level=level)
    if by == "month":
        table["key"] = [k if isinstance(k, str) else pd.Timestamp(k).strftime("%Y-%m") for k in table["key"]]
    if "name" not in table.columns:
        table["name"] = table["key"]
    rows = _records(table[["key", "name", "credit", "revenue_credit", "conversions", "share"]])
    notes: tuple[str, ...] = (f"campaigns at {level} level",) if by == "campaign" else ()
    notes += _defaulted(cur, milestone, rt)
    return {
        "model": model, "milestone": milestone, "revenue_type": None if milestone in LEAD_MILESTONES else rt,
        "by": by, "start": start, "end": end, "segment": normal_segment(segment),
        "campaign_level": level, "run_ids": list(require_run(cur, model, milestone, rt).run_ids), "rows": rows,
        "total_credit": float(table["credit"].sum()), "total_revenue_credit": float(table["revenue_credit"].sum()),
        "definition": definition(model=model, milestone=milestone, revenue_type=rt, segment=segment, start=start,
                                 end=end, notes=notes),
    }


def _defaulted(cur: duckdb.DuckDBPyConnection, milestone: str, revenue_type: str | None) -> tuple[str, ...]:
    """The definition note on deals counted as new_business for want of a known type (#23.1)."""
    note = defaulted_types_note(cur, milestone, revenue_type)
    return (note,) if note else ()


# ---------------------------------------------------------------- ROI
def roi(cur: duckdb.DuckDBPyConnection, *, model: str | None, start: date | None, end: date | None,
        revenue_type: str | None = None, segment: str | None = None, by: str = "channel",
        campaign_level: str | None = None) -> dict[str, Any]:
    """`reports.roi.roi_table` at `won` per channel or campaign, with its total row."""
    model = resolve_model(cur, model, "won")
    rt = revenue_type or DEFAULT_REVENUE_TYPE
    level = check_level(campaign_level)
    table = roi_table(cur, model=model, milestone="won", revenue_type=rt, by=by,  # type: ignore[arg-type]
                      start=start, end=end, segment=segment, campaign_level=level)
    name_col = "campaign_name" if by == "campaign" else by
    rows = [_roi_row(str(r[by]), r, by, str(r[name_col])) for r in _records(table)]
    total = _roi_row("total", roi_totals(table), by, "total")
    if normal_segment(segment) != ALL_SEGMENTS:
        total["roi"] = total["roas"] = None
    notes = ["spend by spend date", "revenue on touches in the period"]
    if by == "campaign":
        notes.append(f"campaigns at {level} level" + (": ROI over each campaign and its children" if level == "campaign"
                                                      else ": children summed into their top parent"))
    if normal_segment(segment) != ALL_SEGMENTS:
        notes.append("spend has no region: ratios only for all regions")
    return {"model": model, "start": start, "end": end, "revenue_type": rt, "segment": normal_segment(segment),
            "by": by, "campaign_level": level, "rows": rows, "total": total,
            "definition": definition(model=model, milestone="won", revenue_type=rt, segment=segment, start=start,
                                     end=end, clock="touch date", what="spend against attributed closed-won revenue",
                                     notes=tuple(notes))}


def _roi_row(key: str, r: dict[str, Any], by: str = "channel", name: str | None = None) -> dict[str, Any]:
    return {
        "key": key, "name": name if name is not None else key, "channel": key if by == "channel" or key == "total" else None,
        "spend": float(r["spend"]), "attributed_revenue": float(r["revenue"]),
        "attributed_pipeline": float(r["pipeline"]), "roi": r["roi"], "roas": r["roas"],
        "cac": r.get("cac"), "payback_months": r.get("payback_months"),
    }


# ---------------------------------------------------------------- funnel
def funnel(cur: duckdb.DuckDBPyConnection, *, revenue_type: str, start: date | None, end: date | None) -> dict[str, Any]:
    """`revline.journeys.funnel`: accounts reaching each stage, conversion and days in the stage
    (the same figures as the account level of /api/funnel?level=account and `revline funnel`)."""
    table = journeys_funnel(cur, start=start, end=end, revenue_type=revenue_type)
    stages = [{"stage": str(r["stage"]), "count": int(r["count"]), "conversion_to_next": r["conversion_to_next"],
               "conversion_low": r["conversion_low"], "conversion_high": r["conversion_high"],
               "median_days_in_stage": r["days_median"], "out_of_order": int(r["out_of_order"])}
              for r in _records(table)]
    text = (f"accounts · {revenue_type.replace('_', ' ')} · all regions · "
            + period_words(start, end, "first funnel stage"))
    return {"revenue_type": revenue_type, "start": start, "end": end, "stages": stages,
            "definition": {**definition(start=start, end=end, revenue_type=revenue_type, clock="first funnel stage"),
                           "currency": None, "text": text}}


def funnel_level(cur: duckdb.DuckDBPyConnection, *, level: str, by: str | None, revenue_type: str,
                 start: date | None, end: date | None, as_of: date | None, segment: str | None = None) -> dict[str, Any]:
    """`revline.models.funnel.funnel_report`: the funnel at a level, win rate, leakage, coverage."""
    from revline.models.funnel import funnel_report
    from revline.models.funnel.model import UNIT_OF

    r = funnel_report(cur, level, by, revenue_type, start, end, as_of, segment)
    d = r.definition
    drop = ["level", "revenue_type", "segment", "start", "end", "by"]
    region = "all regions" if d.segment == ALL_SEGMENTS else f"region {d.segment}"
    text = (f"{UNIT_OF[d.level]} ({d.level} level) · {d.revenue_type.replace('_', ' ')} · {region} · "
            + period_words(d.start, d.end, "first funnel stage") + (f" · by {d.by}" if d.by else "")
            + f" · leakage and coverage as of {d.as_of:%Y-%m-%d} (coverage: every revenue type) · USD")
    return {"level": d.level, "unit": UNIT_OF[d.level], "revenue_type": d.revenue_type, "segment": d.segment,
            "start": d.start,
            "end": d.end, "by": d.by, "as_of": _value(d.as_of),
            "definition": {**definition(start=d.start, end=d.end, revenue_type=d.revenue_type, segment=d.segment,
                                        clock="first funnel stage"), "currency": "USD", "text": text},
            "stages": _records(r.stages.drop(columns=drop)), "win_rate": _records(r.win_rate.drop(columns=drop)),
            "leakage": _records(r.leakage.drop(columns=drop)), "coverage": _records(r.coverage.drop(columns=drop))}


# ---------------------------------------------------------------- revenue vs target
def revenue_vs_target(cur: duckdb.DuckDBPyConnection, *, segment: str, start: date | None,
                      end: date | None) -> dict[str, Any]:
    """`reports.revenue.target_periods`: each target period of `segment` with its USD actuals."""
    table = target_periods(cur, segment, start, end)
    rows = _records(table)
    for r in rows:
        r["period_start"], r["period_end"] = r["period_start"].date(), r["period_end"].date()
    return {"segment": region_or_none(segment) or segment, "start": start, "end": end, "rows": rows,
            "definition": definition(revenue_type=ALL_REVENUE, segment=segment, start=start, end=end,
                                     clock="target period", what="won revenue by close date and pipeline by creation "
                                     "date against target", notes=("targets carry no revenue type",))}


def kpis(cur: duckdb.DuckDBPyConnection, *, model: str | None, start: date | None, end: date | None,
         revenue_type: str | None = None, segment: str | None = None,
         roi_fn: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """The dashboard's tiles: `reports.revenue.headline` beside the attributed part of the same
    won revenue (same types, region and close-date window) and the ROI total of `roi`
    (`roi_fn`: how to get the ROI result, e.g. through the API's cache)."""
    rt = revenue_type or DEFAULT_REVENUE_TYPE
    try:
        r = (roi_fn or roi)(cur, model=model, start=start, end=end, revenue_type=rt, segment=segment)
        total, model_name, roi_def = r["total"], r["model"], r["definition"]
    except NotFound:
        total, model_name = {"spend": 0.0, "attributed_revenue": 0.0, "roi": None}, model
        roi_def = definition(model=model, milestone="won", revenue_type=rt, segment=segment, start=start, end=end,
                             clock="touch date", what="spend against attributed closed-won revenue")
    attributed = unattributed = 0.0
    if model_name is not None:
        try:
            summary = attribution_summary(cur, "channel", model_name, "won", rt, start, end, segment=segment)
            is_un = summary["key"] == UNATTRIBUTED
            attributed = float(summary.loc[~is_un, "revenue_credit"].sum())
            unattributed = float(summary.loc[is_un, "revenue_credit"].sum())
        except NotFound:
            pass
    won_def = definition(milestone="won", revenue_type=rt, segment=segment, start=start, end=end,
                         notes=_defaulted(cur, "won", rt))
    return {
        "model": model_name, "start": start, "end": end, "revenue_type": rt, "segment": normal_segment(segment),
        **headline(cur, start, end, rt, segment),
        "attributed_revenue": attributed, "unattributed_revenue": unattributed,
        "spend": total["spend"], "roi": total["roi"],
        "definitions": {
            "revenue": won_def,
            "pipeline": definition(milestone="opportunity", revenue_type=rt, segment=segment, start=start, end=end,
                                   what="pipeline created", notes=_defaulted(cur, "opportunity", rt)),
            "attributed": {**won_def, "model": model_name,
                           "text": f"{model_name} model · " + won_def["text"] + " · the part credited to touches"},
            "roi": roi_def,
        },
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
            "channel": _str(r["channel"]), "campaign_id": _str(r["campaign_id"]),
            "campaign_name": _str(r["campaign_name"]), "person_id": _str(r["person_id"]),
            "opportunity_id": _str(r["opportunity_id"]),
            "ref": _str(r["touchpoint_id"]) if touch else f"{_str(r['object_type'])}:{_str(r['milestone'])}",
        })
    return {"account": found, "events": events}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)

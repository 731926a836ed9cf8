"""Read-side queries behind the REST API and the dashboard: parameterised SQL over canonical tables.

Why a module of its own: the API must only read what models and ingest wrote (credit_ledger,
attribution_runs, opportunities, targets, spend, touchpoints, milestones) and never compute a
model inline: ROI, funnel and journeys come from their owners (revline.reports.roi,
revline.journeys); what is left here are plain roll-ups of the ledger and the targets. Each function takes an open DuckDB cursor and plain values, returns plain rows
(lists of dicts) and is unit-testable without HTTP. Values reach SQL only as parameters.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Any

import duckdb

UNATTRIBUTED = "(unattributed)"
ALL_TYPES = (None, "all")  # the runner writes the all-revenue-types run as 'all' (lead milestones: NULL)

_DIMENSIONS = {
    "channel": "l.channel",
    "campaign": f"coalesce(l.campaign_id, CASE WHEN l.touchpoint_id IS NULL THEN '{UNATTRIBUTED}' ELSE '(none)' END)",
    "touch_type": f"coalesce(t.touch_type, CASE WHEN l.touchpoint_id IS NULL THEN '{UNATTRIBUTED}' ELSE '(unknown)' END)",
    "month": f"coalesce(strftime(date_trunc('month', l.occurred_at), '%Y-%m'), '{UNATTRIBUTED}')",
}


class NotFound(LookupError):
    """The request names something the store does not hold (a model run, an account)."""


def _rows(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    result = cur.execute(sql, params or [])
    names = [d[0] for d in result.description]
    rows = [dict(zip(names, row)) for row in result.fetchall()]
    for row in rows:  # the store keeps naive UTC; the API says so explicitly (RFC 3339 with Z)
        for key, value in row.items():
            if isinstance(value, datetime) and value.tzinfo is None:
                row[key] = value.replace(tzinfo=timezone.utc)
    return rows


def _window(start: date | None, end: date | None) -> tuple[datetime, datetime]:
    """Inclusive dates -> half-open timestamps [lo, hi) so an `end` date covers its whole day."""
    lo = datetime.combine(start, datetime.min.time()) if start else datetime(1, 1, 1)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time()) if end and end < date(9999, 12, 31) else datetime(9999, 12, 31)
    return lo, hi


# ---------------------------------------------------------------- model runs
def model_runs(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(cur, """
        SELECT run_id, model, milestone, revenue_type, opportunities, unattributed, created_at
        FROM attribution_runs ORDER BY model, milestone, revenue_type NULLS FIRST, created_at DESC""")


def _run_ids(cur, model: str | None, milestone: str, revenue_type: str | None) -> tuple[str, list[str], bool]:
    """Pick the run(s) answering (model, milestone, revenue_type).

    Preference: a run made for exactly this revenue type; else the all-types run ('all' or NULL;
    rows then filtered by their revenue_type); else, when no type is asked, the per-type runs
    together (disjoint opportunities). Never the all-types run and per-type runs together, which
    would count each deal twice. Returns (model, run_ids, filter_rows_by_type).
    """
    runs = _rows(cur, "SELECT run_id, model, revenue_type, created_at FROM attribution_runs WHERE milestone = ? "
                      "ORDER BY created_at DESC", [milestone])
    if model is None:
        if not runs:
            raise NotFound(f"no attribution run for milestone '{milestone}'; run `revline attribute` first")
        model = sorted({r["model"] for r in runs})[0] if not any(r["model"] == "linear" for r in runs) else "linear"
    mine = [r for r in runs if r["model"] == model]
    if not mine:
        available = sorted({r["model"] for r in runs})
        raise NotFound(f"no '{model}' run for milestone '{milestone}'; available: {', '.join(available) or 'none'}")
    if revenue_type is not None:
        exact = [r for r in mine if r["revenue_type"] == revenue_type]
        if exact:
            return model, [exact[0]["run_id"]], False
    every = [r for r in mine if r["revenue_type"] in ALL_TYPES]
    if every:
        return model, [every[0]["run_id"]], revenue_type is not None
    if revenue_type is not None:
        raise NotFound(f"no '{model}' run for milestone '{milestone}' covers revenue type '{revenue_type}'")
    latest: dict[str, str] = {}
    for r in mine:  # no all-types run: the per-type runs together
        latest.setdefault(r["revenue_type"], r["run_id"])
    return model, list(latest.values()), False


def _ledger_cte(milestone: str) -> str:
    """Ledger rows of the chosen runs with the conversion's own date (close date for `won`,
    creation for `opportunity`, the stage date for person/account milestones)."""
    opp_date = "o.closed_at" if milestone == "won" else "o.created_at"
    return f"""
        conv AS (
            SELECT object_id, min(entered_at) AS at FROM stage_events
            WHERE stage = ? GROUP BY object_id),
        ledger AS (
            SELECT l.*, CASE WHEN l.conversion_type = 'opportunity' THEN {opp_date} ELSE conv.at END AS converted_at
            FROM credit_ledger l  -- equality-only joins keep them hash joins (a side condition made
            LEFT JOIN opportunities o ON o.opportunity_id = l.opportunity_id  -- DuckDB loop: 2 s on the demo)
            LEFT JOIN conv ON conv.object_id = l.opportunity_id
            WHERE list_contains(?, l.run_id) AND (NOT ? OR l.revenue_type = ?))"""


def attribution(
    cur: duckdb.DuckDBPyConnection,
    *,
    model: str | None,
    milestone: str,
    revenue_type: str | None,
    by: str,
    start: date | None,
    end: date | None,
) -> dict[str, Any]:
    """Credit and revenue credit of one model grouped by a touch dimension, conversions in [start, end]."""
    model, run_ids, filter_type = _run_ids(cur, model, milestone, revenue_type)
    lo, hi = _window(start, end)
    dim = _DIMENSIONS[by]
    rows = _rows(cur, f"""
        WITH {_ledger_cte(milestone)}
        SELECT {dim} AS key, sum(l.credit) AS credit, sum(l.revenue_credit) AS revenue_credit,
               count(DISTINCT l.opportunity_id) AS conversions
        FROM ledger l LEFT JOIN touchpoints t ON t.touchpoint_id = l.touchpoint_id
        WHERE l.converted_at IS NULL OR (l.converted_at >= ? AND l.converted_at < ?)
        GROUP BY ALL ORDER BY revenue_credit DESC, credit DESC, key""",
        [milestone, run_ids, filter_type, revenue_type, lo, hi])
    total_credit = float(sum(r["credit"] for r in rows))
    for r in rows:
        r["credit"] = float(r["credit"])
        r["revenue_credit"] = float(r["revenue_credit"])
        r["conversions"] = int(r["conversions"])
        r["share"] = r["credit"] / total_credit if total_credit else 0.0
    return {
        "model": model, "milestone": milestone, "revenue_type": revenue_type, "by": by, "start": start, "end": end,
        "run_ids": run_ids, "rows": rows,
        "total_credit": total_credit, "total_revenue_credit": float(sum(r["revenue_credit"] for r in rows)),
    }


# ---------------------------------------------------------------- ROI
def _num(value: Any) -> float | None:
    """NaN/None -> None (JSON has no NaN; an undefined ratio is null)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def roi(cur: duckdb.DuckDBPyConnection, *, model: str | None, start: date | None, end: date | None) -> dict[str, Any]:
    """Spend against attributed revenue and pipeline per channel, as `revline.reports.roi.roi_table`
    computes it (touches in the window); the total row is plain sums and ratios of those rows."""
    from revline.reports.roi import roi_table
    from revline.reports.tables import ReportError

    model = _run_ids(cur, model, "won", None)[0]  # 404 with the available models when absent
    has_all = cur.execute("SELECT count(*) FROM attribution_runs WHERE model = ? AND milestone = 'won' "
                          "AND revenue_type = 'all'", [model]).fetchone()[0]
    revenue_type = "all" if has_all else None  # never 'all' plus the per-type runs: double counting
    try:
        table = roi_table(cur, model=model, milestone="won", revenue_type=revenue_type, by="channel",
                          start=start, end=end)
    except ReportError as exc:
        raise NotFound(str(exc)) from None
    rows = []
    for r in table.to_dict("records"):
        row = _roi_row(str(r["channel"]), r["spend"], r["revenue"], r["pipeline"])
        row["cac"], row["payback_months"] = _num(r.get("cac")), _num(r.get("payback_months"))
        rows.append(row)
    total = _roi_row("total", sum(r["spend"] for r in rows), sum(r["attributed_revenue"] for r in rows),
                     sum(r["attributed_pipeline"] for r in rows))
    total["cac"] = total["payback_months"] = None
    return {"model": model, "start": start, "end": end, "rows": rows, "total": total}


def _roi_row(channel: str, spend: float, revenue: float, pipeline: float) -> dict[str, Any]:
    spend, revenue, pipeline = float(spend), float(revenue), float(pipeline)
    return {
        "channel": channel, "spend": spend, "attributed_revenue": revenue, "attributed_pipeline": pipeline,
        "roi": (revenue - spend) / spend if spend > 0 else None,
        "roas": revenue / spend if spend > 0 else None,
    }


# ---------------------------------------------------------------- funnel
def funnel(cur: duckdb.DuckDBPyConnection, *, revenue_type: str, start: date | None, end: date | None) -> dict[str, Any]:
    """Accounts reaching each stage, conversion and median days to the next stage, as
    `revline.journeys.funnel.funnel` defines them (from the milestones table)."""
    from revline.journeys.funnel import funnel as journeys_funnel

    table = journeys_funnel(cur, start=start, end=end, revenue_type=revenue_type)
    stages = [{"stage": str(r["stage"]), "count": int(r["count"]),
               "conversion_to_next": _num(r["conversion_to_next"]),
               "median_days_to_next": _num(r["median_days_to_next"])} for r in table.to_dict("records")]
    return {"revenue_type": revenue_type, "start": start, "end": end, "stages": stages}


# ---------------------------------------------------------------- revenue vs target
def revenue_vs_target(cur: duckdb.DuckDBPyConnection, *, segment: str, start: date | None, end: date | None) -> dict[str, Any]:
    """Won revenue (by close date) and created pipeline (by creation date) in each target period."""
    lo, hi = _window(start, end)
    rows = _rows(cur, """
        SELECT t.period_start, t.period_end, t.segment,
               CAST(coalesce((SELECT sum(amount) FROM opportunities o WHERE o.is_won
                      AND o.closed_at >= t.period_start AND o.closed_at < t.period_end + INTERVAL 1 DAY), 0) AS DOUBLE) AS revenue,
               CAST(t.revenue_target AS DOUBLE) AS revenue_target,
               CAST(coalesce((SELECT sum(amount) FROM opportunities o
                      WHERE o.created_at >= t.period_start AND o.created_at < t.period_end + INTERVAL 1 DAY), 0) AS DOUBLE) AS pipeline,
               CAST(t.pipeline_target AS DOUBLE) AS pipeline_target
        FROM targets t
        WHERE t.segment = ? AND t.period_end >= ? AND t.period_start < ?
        ORDER BY t.period_start""", [segment, lo.date(), hi.date()])
    for r in rows:
        r["revenue_attainment"] = r["revenue"] / r["revenue_target"] if r["revenue_target"] else None
        r["pipeline_attainment"] = r["pipeline"] / r["pipeline_target"] if r["pipeline_target"] else None
    return {"segment": segment, "start": start, "end": end, "rows": rows}


def kpis(cur: duckdb.DuckDBPyConnection, *, model: str | None, start: date | None, end: date | None,
         roi_fn=None) -> dict[str, Any]:
    """The dashboard's headline tiles, each traceable to one of the endpoints above
    (`roi_fn`: how to get the ROI result, e.g. through the API's cache; default `roi`)."""
    lo, hi = _window(start, end)
    revenue, pipeline = cur.execute("""
        SELECT CAST(coalesce(sum(amount) FILTER (WHERE is_won AND closed_at >= ? AND closed_at < ?), 0) AS DOUBLE),
               CAST(coalesce(sum(amount) FILTER (WHERE created_at >= ? AND created_at < ?), 0) AS DOUBLE)
        FROM opportunities""", [lo, hi, lo, hi]).fetchone()
    targets = revenue_vs_target(cur, segment="all", start=start, end=end)["rows"]
    try:
        r = (roi_fn or roi)(cur, model=model, start=start, end=end)
        total, model_name = r["total"], r["model"]
    except NotFound:
        total, model_name = _roi_row("total", 0.0, 0.0, 0.0), model
    return {
        "model": model_name, "start": start, "end": end,
        "revenue": revenue, "pipeline": pipeline,
        "revenue_target": float(sum(t["revenue_target"] or 0.0 for t in targets)),
        "pipeline_target": float(sum(t["pipeline_target"] or 0.0 for t in targets)),
        "spend": total["spend"], "attributed_revenue": total["attributed_revenue"], "roi": total["roi"],
    }


# ---------------------------------------------------------------- accounts
def search_accounts(cur: duckdb.DuckDBPyConnection, *, search: str, limit: int) -> list[dict[str, Any]]:
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return _rows(cur, r"""
        SELECT a.account_id, a.name, a.domain, a.industry,
               count(o.opportunity_id) AS opportunities,
               CAST(coalesce(sum(o.amount) FILTER (WHERE o.is_won), 0) AS DOUBLE) AS won_revenue
        FROM accounts a LEFT JOIN opportunities o ON o.account_id = a.account_id
        WHERE a.account_id = ? OR a.name ILIKE ? ESCAPE '\' OR a.domain ILIKE ? ESCAPE '\'
        GROUP BY ALL ORDER BY won_revenue DESC, a.name, a.account_id LIMIT ?""",
        [search, pattern, pattern, limit])


def account_journey(cur: duckdb.DuckDBPyConnection, account_id: str) -> dict[str, Any]:
    """The account's touches and milestones in time order (`revline.journeys.timeline`)."""
    from revline.journeys import timeline

    found = search_accounts_exact(cur, account_id)
    table = timeline(cur, account_id)
    events = []
    for r in table.to_dict("records"):
        touch = r["kind"] == "touch"
        occurred = r["occurred_at"].to_pydatetime() if hasattr(r["occurred_at"], "to_pydatetime") else r["occurred_at"]
        events.append({
            "occurred_at": occurred.replace(tzinfo=timezone.utc),
            "kind": "touch" if touch else "stage",
            "label": _str(r["touch_type"]) or "touch" if touch else _str(r["milestone"]) or "milestone",
            "channel": _str(r["channel"]), "campaign_id": _str(r["campaign_id"]), "person_id": _str(r["person_id"]),
            "opportunity_id": _str(r["opportunity_id"]),
            "ref": _str(r["touchpoint_id"]) if touch else f"{_str(r['object_type'])}:{_str(r['milestone'])}",
        })
    return {"account": found, "events": events}


def _str(value: Any) -> str | None:
    """pandas gives NaN/None/pd.NA for SQL NULL; the API says null."""
    import pandas as pd

    return None if value is None or pd.isna(value) else str(value)


def search_accounts_exact(cur: duckdb.DuckDBPyConnection, account_id: str) -> dict[str, Any]:
    rows = _rows(cur, """
        SELECT a.account_id, a.name, a.domain, a.industry,
               count(o.opportunity_id) AS opportunities,
               CAST(coalesce(sum(o.amount) FILTER (WHERE o.is_won), 0) AS DOUBLE) AS won_revenue
        FROM accounts a LEFT JOIN opportunities o ON o.account_id = a.account_id
        WHERE a.account_id = ? GROUP BY ALL""", [account_id])
    if not rows:
        raise NotFound(f"no account with account_id '{account_id}'")
    return rows[0]

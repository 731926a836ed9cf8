"""Read-side queries behind the REST API and the dashboard: parameterised SQL over canonical tables.

Why a module of its own: the API must only read what models and ingest wrote (credit_ledger,
attribution_runs, opportunities, targets, spend, stage_events, touchpoints) and never compute a
model inline. Each function takes an open DuckDB cursor and plain values, returns plain rows
(lists of dicts) and is unit-testable without HTTP. Values reach SQL only as parameters.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import duckdb

FUNNEL_STAGES = ("lead", "mql", "sql", "opportunity", "won")
UNATTRIBUTED = "(unattributed)"

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

    Preference: a run made for exactly this revenue type; else the all-types run (rows then
    filtered by their revenue_type); else, when no type is asked, the per-type runs together
    (they cover disjoint opportunities). Returns (model, run_ids, filter_rows_by_type).
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
    every = [r for r in mine if r["revenue_type"] is None]
    if every:
        return model, [every[0]["run_id"]], revenue_type is not None
    if revenue_type is not None:
        raise NotFound(f"no '{model}' run for milestone '{milestone}' covers revenue type '{revenue_type}'")
    latest: dict[str, str] = {}
    for r in mine:
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
            FROM credit_ledger l
            LEFT JOIN opportunities o ON l.conversion_type = 'opportunity' AND o.opportunity_id = l.opportunity_id
            LEFT JOIN conv ON l.conversion_type <> 'opportunity' AND conv.object_id = l.opportunity_id
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
def roi(cur: duckdb.DuckDBPyConnection, *, model: str | None, start: date | None, end: date | None) -> dict[str, Any]:
    """Spend against the revenue (won) and pipeline (opportunity) a model credits to each channel."""
    won = attribution(cur, model=model, milestone="won", revenue_type=None, by="channel", start=start, end=end)
    try:
        pipe = attribution(cur, model=won["model"], milestone="opportunity", revenue_type=None, by="channel",
                           start=start, end=end)["rows"]
    except NotFound:
        pipe = []
    lo, hi = _window(start, end)
    spend = dict(cur.execute(
        "SELECT channel, CAST(sum(spend) AS DOUBLE) FROM spend WHERE date >= ? AND date < ? GROUP BY channel",
        [lo.date(), hi.date()]).fetchall())
    revenue = {r["key"]: r["revenue_credit"] for r in won["rows"]}
    pipeline = {r["key"]: r["revenue_credit"] for r in pipe}
    rows = []
    for channel in sorted(set(spend) | set(revenue) | set(pipeline)):
        rows.append(_roi_row(channel, spend.get(channel, 0.0), revenue.get(channel, 0.0), pipeline.get(channel, 0.0)))
    rows.sort(key=lambda r: (-r["attributed_revenue"], r["channel"]))
    total = _roi_row("total", sum(r["spend"] for r in rows), sum(r["attributed_revenue"] for r in rows),
                     sum(r["attributed_pipeline"] for r in rows))
    return {"model": won["model"], "start": start, "end": end, "rows": rows, "total": total}


def _roi_row(channel: str, spend: float, revenue: float, pipeline: float) -> dict[str, Any]:
    spend, revenue, pipeline = float(spend), float(revenue), float(pipeline)
    return {
        "channel": channel, "spend": spend, "attributed_revenue": revenue, "attributed_pipeline": pipeline,
        "roi": (revenue - spend) / spend if spend > 0 else None,
        "roas": revenue / spend if spend > 0 else None,
    }


# ---------------------------------------------------------------- funnel
def funnel(cur: duckdb.DuckDBPyConnection, *, start: date | None, end: date | None) -> dict[str, Any]:
    """Objects entering each stage in the window, stage-to-stage conversion and median days between
    stages per account (B2B: the lead is a person, the opportunity a deal, the account joins them)."""
    lo, hi = _window(start, end)
    rows = _rows(cur, """
        WITH ev AS (
            SELECT s.stage, s.object_id, s.entered_at,
                   CASE s.object_type WHEN 'account' THEN s.object_id
                        WHEN 'person' THEN p.account_id ELSE o.account_id END AS account_id
            FROM stage_events s
            LEFT JOIN people p ON s.object_type = 'person' AND p.person_id = s.object_id
            LEFT JOIN opportunities o ON s.object_type = 'opportunity' AND o.opportunity_id = s.object_id
            WHERE list_contains(?, s.stage) AND s.entered_at >= ? AND s.entered_at < ?),
        counts AS (SELECT stage, count(DISTINCT object_id) AS n FROM ev GROUP BY stage),
        firsts AS (SELECT account_id, stage, min(entered_at) AS at FROM ev WHERE account_id IS NOT NULL GROUP BY ALL),
        steps AS (
            SELECT b.stage, median(date_diff('second', a.at, b.at) / 86400.0) AS days
            FROM firsts a JOIN firsts b ON a.account_id = b.account_id
             AND list_position(?, b.stage) = list_position(?, a.stage) + 1 AND b.at >= a.at
            GROUP BY b.stage)
        SELECT c.stage, c.n, s.days FROM counts c LEFT JOIN steps s USING (stage)""",
        [list(FUNNEL_STAGES), lo, hi, list(FUNNEL_STAGES), list(FUNNEL_STAGES)])
    by_stage = {r["stage"]: r for r in rows}
    stages, previous = [], None
    for stage in FUNNEL_STAGES:
        r = by_stage.get(stage, {"n": 0, "days": None})
        n = int(r["n"])
        stages.append({
            "stage": stage, "count": n,
            "conversion_from_previous": (n / previous) if previous else None,
            "median_days_from_previous": float(r["days"]) if r["days"] is not None else None,
        })
        previous = n
    return {"start": start, "end": end, "stages": stages}


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


def kpis(cur: duckdb.DuckDBPyConnection, *, model: str | None, start: date | None, end: date | None) -> dict[str, Any]:
    """The dashboard's headline tiles, each traceable to one of the endpoints above."""
    lo, hi = _window(start, end)
    revenue, pipeline = cur.execute("""
        SELECT CAST(coalesce(sum(amount) FILTER (WHERE is_won AND closed_at >= ? AND closed_at < ?), 0) AS DOUBLE),
               CAST(coalesce(sum(amount) FILTER (WHERE created_at >= ? AND created_at < ?), 0) AS DOUBLE)
        FROM opportunities""", [lo, hi, lo, hi]).fetchone()
    targets = revenue_vs_target(cur, segment="all", start=start, end=end)["rows"]
    try:
        r = roi(cur, model=model, start=start, end=end)
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
    """Every touch and stage change of an account, its people and its deals, in time order."""
    found = search_accounts_exact(cur, account_id)
    events = _rows(cur, """
        WITH ppl AS (SELECT person_id FROM people WHERE account_id = ?),
             opp AS (SELECT opportunity_id FROM opportunities WHERE account_id = ?)
        SELECT t.occurred_at, 'touch' AS kind, coalesce(t.touch_type, 'touch') AS label, t.channel,
               t.campaign_id, t.person_id, NULL AS opportunity_id, t.touchpoint_id AS ref
        FROM touchpoints t
        WHERE t.account_id = ? OR t.person_id IN (SELECT person_id FROM ppl)
        UNION ALL
        SELECT s.entered_at, 'stage', s.stage, NULL, NULL,
               CASE WHEN s.object_type = 'person' THEN s.object_id END,
               CASE WHEN s.object_type = 'opportunity' THEN s.object_id END, s.object_type || ':' || s.object_id
        FROM stage_events s
        WHERE (s.object_type = 'account' AND s.object_id = ?)
           OR (s.object_type = 'person' AND s.object_id IN (SELECT person_id FROM ppl))
           OR (s.object_type = 'opportunity' AND s.object_id IN (SELECT opportunity_id FROM opp))
        ORDER BY 1, 2, 3, ref""", [account_id, account_id, account_id, account_id])
    return {"account": found, "events": events}


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

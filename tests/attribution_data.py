"""Small hand-built canonical stores for the attribution, ROI and report tests.

Why a builder instead of a shared database file: each test states the journey it checks in a
few literal rows, so a reader can verify the expected credits by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

import revline

COLUMNS: dict[str, list[str]] = {
    "accounts": ["account_id", "name", "country"],
    "people": ["person_id", "account_id"],
    "touchpoints": ["touchpoint_id", "occurred_at", "person_id", "account_id", "channel", "campaign_id", "touch_type"],
    "opportunities": [
        "opportunity_id", "account_id", "revenue_type", "amount", "currency", "probability",
        "created_at", "closed_at", "is_closed", "is_won", "campaign_id",
    ],
    "opportunity_contacts": ["opportunity_id", "person_id", "role", "is_primary"],
    "milestones": ["object_type", "object_id", "account_id", "person_id", "milestone", "occurred_at"],
    "stage_events": ["object_type", "object_id", "stage", "entered_at"],
    "spend": ["date", "channel", "campaign_id", "spend", "impressions", "clicks", "currency"],
    "campaigns": ["campaign_id", "name", "channel"],
    "targets": ["period_start", "period_end", "segment", "revenue_target", "pipeline_target"],
    "fx_rates": ["date", "currency", "rate", "source"],
}

TIME_COLUMNS = {"occurred_at", "created_at", "closed_at", "entered_at"}
DATE_COLUMNS = {"date", "period_start", "period_end"}


def frame(table: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    cols = COLUMNS[table]
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    for c in cols:
        if c in TIME_COLUMNS:
            df[c] = pd.to_datetime(df[c])
        elif c in DATE_COLUMNS:
            df[c] = pd.to_datetime(df[c]).dt.date
    return df


def insert(con: Any, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    df = frame(table, list(rows))
    if df.empty:
        return
    if table == "opportunities":
        df["currency"] = df["currency"].fillna("USD")
    if table == "touchpoints":
        df["touch_type"] = df["touch_type"].astype(object)
    con.register("_rows", df)
    con.execute(f"INSERT INTO {table} ({', '.join(df.columns)}) SELECT {', '.join(df.columns)} FROM _rows")
    con.unregister("_rows")


def make_store(tables: Mapping[str, Iterable[Mapping[str, Any]]], db: str = ":memory:") -> Any:
    """A migrated store holding exactly the given rows, recorded as stitched: the rows already carry
    resolved person and account ids, as a stitch would leave them (so commands do not re-stitch)."""
    from revline.store.state import record_stitch

    con = revline.connect(db)
    for table, rows in tables.items():
        insert(con, table, rows)
    record_stitch(con)
    return con


def ledger(con: Any, model: str | None = None, milestone: str | None = None, revenue_type: Any = "any") -> pd.DataFrame:
    """Ledger rows of the latest runs, sorted for stable comparisons."""
    where, params = ["1=1"], []
    if model:
        where.append("r.model = ?")
        params.append(model)
    if milestone:
        where.append("r.milestone = ?")
        params.append(milestone)
    if revenue_type != "any":
        where.append("r.revenue_type IS NOT DISTINCT FROM ?")
        params.append(revenue_type)
    return con.execute(
        f"""SELECT r.model AS run_model, r.revenue_type AS run_revenue_type, l.* FROM credit_ledger l
            JOIN attribution_runs r USING (run_id) WHERE {' AND '.join(where)}
            ORDER BY r.model, r.milestone, r.revenue_type, l.conversion_id, l.occurred_at, l.touchpoint_id""",
        params,
    ).df()


def credits(con: Any, model: str, milestone: str = "won", revenue_type: Any = "any") -> dict[str, dict[str, float]]:
    """{conversion_id: {touchpoint_id or None: credit}} for one model."""
    df = ledger(con, model, milestone, revenue_type)
    out: dict[str, dict[str, float]] = {}
    for r in df.itertuples():
        tp = None if pd.isna(r.touchpoint_id) else r.touchpoint_id
        out.setdefault(r.conversion_id, {})[tp] = out.get(r.conversion_id, {}).get(tp, 0.0) + r.credit
    return out

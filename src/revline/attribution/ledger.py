"""Writing the credit ledger: the one shape every attribution model produces.

Why a single writer: reports, ROI and the dashboard read `credit_ledger` without caring which
model ran, so every model hands its rows here, where the invariants are enforced once.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import duckdb
import pandas as pd

LEDGER_COLUMNS = [
    "model", "opportunity_id", "conversion_type", "touchpoint_id", "milestone", "credit", "revenue_credit",
    "revenue_type", "channel", "campaign_id", "touch_position", "occurred_at", "run_id",
]
UNATTRIBUTED = "(unattributed)"


def new_run_id(model: str) -> str:
    return f"{model}-{uuid.uuid4().hex[:12]}"


def check_invariants(rows: pd.DataFrame, amounts: pd.Series | None = None, tol: float = 1e-6) -> None:
    """Raise if any opportunity's credits do not sum to 1 (or revenue credit to its amount)."""
    sums = rows.groupby("opportunity_id")["credit"].sum()
    bad = sums[(sums - 1.0).abs() > tol]
    if len(bad):
        raise ValueError(f"credits do not sum to 1 for {len(bad)} opportunities, e.g. {bad.index[0]}={bad.iloc[0]}")
    if amounts is not None:
        rev = rows.groupby("opportunity_id")["revenue_credit"].sum()
        diff = (rev - amounts.reindex(rev.index).fillna(0.0)).abs()
        worst = diff[diff > tol * (1 + amounts.reindex(rev.index).fillna(0.0).abs())]
        if len(worst):
            raise ValueError(f"revenue credit differs from amount for {len(worst)} opportunities, e.g. {worst.index[0]}")


def write_ledger(
    con: duckdb.DuckDBPyConnection,
    rows: pd.DataFrame,
    *,
    model: str,
    milestone: str,
    revenue_type: str | None,
    params: dict | None = None,
    run_id: str | None = None,
    replace: bool = True,
    check: bool = True,
) -> str:
    """Append one run's rows (one transaction). `replace` drops earlier runs of the same
    (model, milestone, revenue_type) so reports show the latest run only."""
    run_id = run_id or new_run_id(model)
    df = rows.copy()
    for col in LEDGER_COLUMNS:
        if col not in df.columns:
            df[col] = None
    df["model"] = model
    df["milestone"] = milestone
    df["run_id"] = run_id
    df["conversion_type"] = df["conversion_type"].fillna("opportunity")
    if "revenue_type" not in rows.columns or df["revenue_type"].isna().all():
        df["revenue_type"] = revenue_type
    df = df[LEDGER_COLUMNS]
    if check and len(df):
        check_invariants(df)
    n_opps = int(df["opportunity_id"].nunique()) if len(df) else 0
    n_unattr = int(df.loc[df["touchpoint_id"].isna(), "opportunity_id"].nunique()) if len(df) else 0
    con.execute("BEGIN TRANSACTION")
    try:
        if replace:
            old = con.execute(
                "SELECT run_id FROM attribution_runs WHERE model = ? AND milestone = ? AND revenue_type IS NOT DISTINCT FROM ?",
                [model, milestone, revenue_type],
            ).fetchall()
            for (rid,) in old:
                con.execute("DELETE FROM credit_ledger WHERE run_id = ?", [rid])
                con.execute("DELETE FROM attribution_runs WHERE run_id = ?", [rid])
        con.register("_ledger_rows", df)
        con.execute(f"INSERT INTO credit_ledger ({', '.join(LEDGER_COLUMNS)}) SELECT {', '.join(LEDGER_COLUMNS)} FROM _ledger_rows")
        con.unregister("_ledger_rows")
        con.execute(
            "INSERT INTO attribution_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, model, milestone, revenue_type, json.dumps(params or {}), n_opps, n_unattr,
             datetime.now(timezone.utc).replace(tzinfo=None)],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return run_id

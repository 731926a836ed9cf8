"""Writing the credit ledger: the one shape every attribution model produces.

Why a single writer: reports, ROI and the dashboard read `credit_ledger` without caring which
model ran, so every model hands its rows here, where the invariants are enforced once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Literal

import duckdb
import pandas as pd

from revline.store.transaction import transaction

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


def _drop_earlier_runs(con: duckdb.DuckDBPyConnection, model: str, milestone: str, revenue_type: str | None) -> None:
    """Reports show the latest run of a (model, milestone, revenue type); older ones go, inside
    the caller's transaction, so a failed write keeps them."""
    old = con.execute(
        "SELECT run_id FROM attribution_runs WHERE model = ? AND milestone = ? AND revenue_type IS NOT DISTINCT FROM ?",
        [model, milestone, revenue_type],
    ).fetchall()
    for (rid,) in old:
        con.execute("DELETE FROM credit_ledger WHERE run_id = ?", [rid])
        con.execute("DELETE FROM attribution_runs WHERE run_id = ?", [rid])


def _record_run(con: duckdb.DuckDBPyConnection, run_id: str, model: str, milestone: str,
                revenue_type: str | None, params: dict | None, n_opps: int, n_unattr: int) -> None:
    """One row of attribution_runs, written in the caller's transaction beside the ledger rows."""
    con.execute(
        "INSERT INTO attribution_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, model, milestone, revenue_type, json.dumps(params or {}), int(n_opps), int(n_unattr),
         datetime.now(timezone.utc).replace(tzinfo=None)],
    )


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
    with transaction(con):
        if replace:
            _drop_earlier_runs(con, model, milestone, revenue_type)
        con.register("_ledger_rows", df)
        con.execute(f"INSERT INTO credit_ledger ({', '.join(LEDGER_COLUMNS)}) SELECT {', '.join(LEDGER_COLUMNS)} FROM _ledger_rows")
        con.unregister("_ledger_rows")
        _record_run(con, run_id, model, milestone, revenue_type, params, n_opps, n_unattr)
    return run_id


def write_ledger_query(
    con: duckdb.DuckDBPyConnection,
    select_sql: str | Sequence[str],
    *,
    model: str,
    milestone: str,
    revenue_type: str | None,
    params: dict | None = None,
    run_id: str | None = None,
    replace: bool = True,
    check: bool | Literal["totals"] = True,
    amounts_sql: str | None = None,
    tol: float = 1e-6,
) -> str:
    """Like `write_ledger`, but the rows come from a SELECT run inside DuckDB.

    Why: a rule model over 10M touchpoints yields millions of ledger rows; round-tripping them
    through pandas costs more than the model itself. The SELECT must produce the columns of
    LEDGER_COLUMNS except model, milestone and run_id; several SELECTs are inserted in order, in
    the same transaction (a later one may read the rows of an earlier one through the run_id
    the caller passes). `amounts_sql` (opportunity_id, amount)
    enables the revenue-credit check. Invariants are checked in SQL inside the writing
    transaction; a violation rolls the run back and raises.

    `check="totals"` is the cheap check for writers whose query guarantees the per-conversion
    sums by construction (the rule models): one aggregate pass over the run instead of a
    per-conversion GROUP BY. It needs `amounts_sql` listing every conversion of the run, and
    verifies that the credits add up to the number of conversions, the revenue credits to
    their amounts, and that every credit lies in [0, 1]; a dropped or duplicated conversion
    shifts the total by a whole credit.
    """
    if check == "totals" and amounts_sql is None:
        raise ValueError("check='totals' needs amounts_sql (every conversion of the run and its amount)")
    run_id = run_id or new_run_id(model)
    with transaction(con):
        if replace:
            _drop_earlier_runs(con, model, milestone, revenue_type)
        # insert first, check inside the same transaction: one pass over the rows instead of a
        # staging copy; a failed check rolls everything back
        for sql in [select_sql] if isinstance(select_sql, str) else select_sql:
            con.execute(
                f"INSERT INTO credit_ledger ({', '.join(LEDGER_COLUMNS)}) "
                f"SELECT ?, opportunity_id, coalesce(conversion_type, 'opportunity'), touchpoint_id, ?, credit, revenue_credit, "
                f"coalesce(revenue_type, ?), channel, campaign_id, touch_position, occurred_at, ? FROM ({sql})",
                [model, milestone, revenue_type, run_id],
            )
        if check == "totals":
            n_rows, c_sum, rc_sum, c_min, c_max, n_unattr = con.execute(
                "SELECT count(*), coalesce(sum(credit), 0)::DOUBLE, coalesce(sum(revenue_credit), 0)::DOUBLE, "
                "min(credit)::DOUBLE, max(credit)::DOUBLE, "
                "count(*) FILTER (WHERE touchpoint_id IS NULL) FROM credit_ledger WHERE run_id = ?",
                [run_id],
            ).fetchone()
            n_opps, amount, abs_amount = con.execute(
                f"SELECT count(*), coalesce(sum(coalesce(amount, 0)), 0)::DOUBLE, "
                f"coalesce(sum(abs(coalesce(amount, 0))), 0)::DOUBLE "
                f"FROM ({amounts_sql})"
            ).fetchone()
            if n_rows and (c_min < -tol or c_max > 1 + tol):
                raise ValueError(f"credits outside [0, 1] in run {run_id}: min {c_min}, max {c_max}")
            if abs(c_sum - n_opps) > tol * max(1, n_opps):
                raise ValueError(f"credits of run {run_id} sum to {c_sum}, expected one per conversion ({n_opps})")
            if abs(rc_sum - amount) > tol * (n_opps + abs_amount):
                raise ValueError(f"revenue credit of run {run_id} sums to {rc_sum}, expected the amounts' {amount}")
            _record_run(con, run_id, model, milestone, revenue_type, params, n_opps, n_unattr)
            return run_id
        per_conv = (
            "SELECT opportunity_id, sum(credit) AS c, sum(revenue_credit) AS rc, bool_or(touchpoint_id IS NULL) AS un "
            "FROM credit_ledger WHERE run_id = ? GROUP BY 1"
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _ledger_check AS {per_conv}", [run_id])
        if check:
            bad = con.execute(
                f"SELECT opportunity_id, c, (SELECT count(*) FROM _ledger_check WHERE abs(c - 1) > {tol}) "
                f"FROM _ledger_check WHERE abs(c - 1) > {tol} LIMIT 1"
            ).fetchall()
            if bad:
                raise ValueError(f"credits do not sum to 1 for {bad[0][2]} opportunities, e.g. {bad[0][0]}={bad[0][1]}")
            if amounts_sql is not None:
                worst = con.execute(
                    f"""SELECT r.opportunity_id FROM _ledger_check r JOIN ({amounts_sql}) a USING (opportunity_id)
                        WHERE abs(r.rc - coalesce(a.amount, 0)) > {tol} * (1 + abs(coalesce(a.amount, 0))) LIMIT 1"""
                ).fetchall()
                if worst:
                    raise ValueError(f"revenue credit differs from amount for opportunity {worst[0][0]}")
        n_opps, n_unattr = con.execute("SELECT count(*), count(*) FILTER (WHERE un) FROM _ledger_check").fetchone()
        con.execute("DROP TABLE _ledger_check")
        _record_run(con, run_id, model, milestone, revenue_type, params, n_opps, n_unattr)
    return run_id

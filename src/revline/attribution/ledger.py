"""The credit ledger's contract: its columns, the one writer, the one invariant check, the reader.

Why one module: reports, ROI, the API and the dashboard read `credit_ledger` without caring which
model ran, so every model hands its rows to `write_ledger`, the invariants are enforced in one
place, and every reader picks runs with `select_runs`. The columns are declared once, in
`COLUMNS`; the rule models' Ibis output (`ROW_TYPES`), the data-driven models' frames
(`ROW_COLUMNS`) and the writer's INSERT derive from it, and a store test checks that the
migrated table (store/schema.py, frozen history below this layer) has exactly these columns.

A ledger row is one touch's share of one conversion: `conversion_id` is the converting object,
an opportunity at the opportunity/won milestones, a person or an account at lead/mql/sql
(`conversion_type` says which). Per run and conversion, credits sum to 1 and revenue credits to
the conversion's amount (USD); a conversion with no eligible touch has one row with
touchpoint_id NULL and channel '(unattributed)': never dropped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, Union

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd

from revline.store.connection import compiled_sql, ibis_backend
from revline.store.rows import one_row
from revline.store.sql import ident
from revline.store.transaction import transaction
from revline.vocabulary import ALL_REVENUE, LEAD_MILESTONES, UNATTRIBUTED

ALL_TYPES: tuple[str | None, ...] = (ALL_REVENUE, None)
"""How a run over every revenue type is labelled: 'all' (opportunity/won), NULL (lead milestones)."""


@dataclass(frozen=True)
class Column:
    """One ledger column: its DuckDB and Ibis types, and whether a model produces it (the
    writer stamps model, milestone and run_id on every row of a run)."""

    name: str
    sql: str
    ibis: str
    produced: bool = True


COLUMNS: tuple[Column, ...] = (
    Column("model", "VARCHAR", "string", produced=False),
    Column("conversion_id", "VARCHAR", "string"),
    Column("conversion_type", "VARCHAR", "string"),   # opportunity, person, account
    Column("touchpoint_id", "VARCHAR", "string"),     # NULL: no eligible touch (unattributed)
    Column("milestone", "VARCHAR", "string", produced=False),
    Column("credit", "DOUBLE", "float64"),
    Column("revenue_credit", "DOUBLE", "float64"),    # USD
    Column("revenue_type", "VARCHAR", "string"),
    Column("channel", "VARCHAR", "string"),           # '(unattributed)' when touchpoint_id is NULL
    Column("campaign_id", "VARCHAR", "string"),
    Column("touch_position", "VARCHAR", "string"),    # FT, LC, OC, CW, or NULL in between
    Column("occurred_at", "TIMESTAMP", "timestamp"),  # the touch's time
    Column("run_id", "VARCHAR", "string", produced=False),
)
LEDGER_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS)
ROW_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.produced)
"""The columns a model hands the writer, in table order."""
ROW_TYPES: dict[str, str] = {c.name: c.ibis for c in COLUMNS if c.produced}
"""Ibis types of ROW_COLUMNS (the rule models' portable output)."""
_TYPES: dict[str, str] = {c.name: c.ibis for c in COLUMNS}

Rows = Union[pd.DataFrame, duckdb.DuckDBPyRelation, ir.Table]
"""What the writer takes: a DataFrame, a DuckDB relation or an Ibis expression on the store."""


def conform(t: ir.Table, keep: Sequence[str] = ()) -> ir.Table:
    """An Ibis table as ledger rows: exactly ROW_COLUMNS with the ledger's types (a cached table
    may read back `timestamp(6)`, which set operations refuse to mix with `timestamp`), then the
    columns of `keep` (a run's id and model, while many runs are computed at once), cast to the
    ledger's type when they are ledger columns (whole ledger rows: keep model, milestone, run_id)."""
    return t.select(**{c: t[c].cast(ty) for c, ty in ROW_TYPES.items()},
                    **{c: t[c].cast(_TYPES[c]) if c in _TYPES else t[c] for c in keep})


def new_run_id(model: str) -> str:
    """A fresh run id that names its model (e.g. `linear-1a2b3c4d5e6f`)."""
    return f"{model}-{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------ writing
def _relation(con: duckdb.DuckDBPyConnection, rows: Rows) -> duckdb.DuckDBPyRelation:
    if isinstance(rows, duckdb.DuckDBPyRelation):
        return rows
    if isinstance(rows, pd.DataFrame):
        df = rows.copy()
        for col in ROW_COLUMNS:
            if col not in df.columns:
                df[col] = None
        return con.from_df(df)
    return con.sql(compiled_sql(ibis_backend(con), rows))  # a small memtable (channel weights) registered


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
                revenue_type: str | None, params: dict | None, n_conv: int, n_unattr: int) -> None:
    """One row of attribution_runs, written in the caller's transaction beside the ledger rows."""
    con.execute(
        "INSERT INTO attribution_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, model, milestone, revenue_type, json.dumps(params or {}), int(n_conv), int(n_unattr),
         datetime.now(timezone.utc).replace(tzinfo=None)],
    )


def check_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    amounts: duckdb.DuckDBPyRelation | None = None,
    *,
    totals: bool = False,
    tol: float = 1e-6,
    only: str | None = None,
) -> tuple[int, int]:
    """The ledger's invariant for one written run: per conversion, credits sum to 1 and (with
    `amounts`, a relation of conversion_id, amount) revenue credits to the amount. Raises
    ValueError naming a violating conversion; returns (conversions, unattributed conversions).

    `totals=True` is the cheap form for writers whose query guarantees the per-conversion sums by
    construction (the rule models): one aggregate pass instead of a per-conversion GROUP BY. It
    needs `amounts` listing every conversion of the run, and verifies that the credits add up to
    the number of conversions, the revenue credits to their amounts, and that every credit lies
    in [0, 1]; a dropped or duplicated conversion shifts the total by a whole credit.

    `only` (a table or view of conversion_id) restricts the check to those conversions of the
    run: the ones an incremental refresh rewrote (`amounts` then lists exactly those).
    """
    # `only` is a temp-table name of the calling code, never user input; quoted all the same
    where = "run_id = ?" + ("" if only is None else f" AND conversion_id IN (SELECT conversion_id FROM {ident(only)})")  # noqa: S608
    if totals:
        if amounts is None:
            raise ValueError("the totals check needs amounts (every conversion of the run and its amount)")
        n_rows, c_sum, rc_sum, c_min, c_max, n_unattr = one_row(
            con,
            "SELECT count(*), coalesce(sum(credit), 0)::DOUBLE, coalesce(sum(revenue_credit), 0)::DOUBLE, "  # noqa: S608 - `where` above
            "min(credit)::DOUBLE, max(credit)::DOUBLE, "
            f"count(*) FILTER (WHERE touchpoint_id IS NULL) FROM credit_ledger WHERE {where}",
            [run_id],
        )
        amounts.create_view("_rl_ledger_amounts", replace=True)
        n_conv, amount, abs_amount = one_row(
            con,
            "SELECT count(*), coalesce(sum(coalesce(amount, 0)), 0)::DOUBLE, "
            "coalesce(sum(abs(coalesce(amount, 0))), 0)::DOUBLE FROM _rl_ledger_amounts",
        )
        con.execute("DROP VIEW _rl_ledger_amounts")
        if n_rows and (c_min < -tol or c_max > 1 + tol):
            raise ValueError(f"credits outside [0, 1] in run {run_id}: min {c_min}, max {c_max}")
        if abs(c_sum - n_conv) > tol * max(1, n_conv):
            raise ValueError(f"credits of run {run_id} sum to {c_sum}, expected one per conversion ({n_conv})")
        if abs(rc_sum - amount) > tol * (n_conv + abs_amount):
            raise ValueError(f"revenue credit of run {run_id} sums to {rc_sum}, expected the amounts' {amount}")
        return int(n_conv), int(n_unattr)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rl_ledger_check AS SELECT conversion_id, sum(credit) AS c, "  # noqa: S608 - `where` above
        f"sum(revenue_credit) AS rc, bool_or(touchpoint_id IS NULL) AS un FROM credit_ledger WHERE {where} GROUP BY 1",
        [run_id],
    )
    try:
        bad = con.execute(
            "SELECT conversion_id, c, (SELECT count(*) FROM _rl_ledger_check WHERE abs(c - 1) > ?) "
            "FROM _rl_ledger_check WHERE abs(c - 1) > ? ORDER BY conversion_id LIMIT 1",
            [tol, tol],
        ).fetchall()
        if bad:
            raise ValueError(f"credits do not sum to 1 for {bad[0][2]} opportunities, e.g. {bad[0][0]}={bad[0][1]}")
        if amounts is not None:
            amounts.create_view("_rl_ledger_amounts", replace=True)
            worst = con.execute(
                "SELECT r.conversion_id FROM _rl_ledger_check r JOIN _rl_ledger_amounts a USING (conversion_id) "
                "WHERE abs(r.rc - coalesce(a.amount, 0)) > ? * (1 + abs(coalesce(a.amount, 0))) "
                "ORDER BY 1 LIMIT 1",
                [tol],
            ).fetchall()
            con.execute("DROP VIEW _rl_ledger_amounts")
            if worst:
                raise ValueError(f"revenue credit differs from amount for opportunity {worst[0][0]}")
        n_conv, n_unattr = one_row(con, "SELECT count(*), count(*) FILTER (WHERE un) FROM _rl_ledger_check")
    finally:
        con.execute("DROP TABLE IF EXISTS _rl_ledger_check")
    return int(n_conv), int(n_unattr)


def _insert_rows(con: duckdb.DuckDBPyConnection, rows: Rows | Sequence[Rows], *, model: str, milestone: str,
                 revenue_type: str | None, run_id: str) -> None:
    """Insert ledger rows of one run, relation after relation (in the caller's transaction)."""
    parts = list(rows) if isinstance(rows, (list, tuple)) else [rows]
    cols = ", ".join(ROW_COLUMNS)
    select = ", ".join(
        {"conversion_type": "coalesce(conversion_type, 'opportunity')",
         "revenue_type": "coalesce(revenue_type, ?)"}.get(c, c) for c in ROW_COLUMNS
    )
    for part in parts:
        _relation(con, part).create_view("_rl_ledger_rows", replace=True)
        con.execute(
            f"INSERT INTO credit_ledger (model, milestone, run_id, {cols}) "  # noqa: S608 - ledger columns from ROW_COLUMNS; values bound
            f"SELECT ?, ?, ?, {select} FROM _rl_ledger_rows",
            [model, milestone, run_id, revenue_type],
        )
        con.execute("DROP VIEW _rl_ledger_rows")


def rewrite_conversions(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    rows: Rows | Sequence[Rows],
    *,
    conversions: str,
    amounts: Rows,
    tol: float = 1e-6,
) -> tuple[int, int]:
    """Replace, inside an existing run, the rows of the conversions listed in the table
    `conversions` (column conversion_id) by `rows`, in one transaction: delete, insert, check
    those conversions (`check_run(totals=True, only=...)`: `amounts` lists each of them with its
    amount), and bring the run's attribution_runs row up to date (its conversion counts and
    created_at, the as-of time readers and the API's result cache key on). A violation rolls
    everything back and raises ValueError. Returns the (conversions, unattributed) rewritten.
    """
    found = con.execute("SELECT model, milestone, revenue_type FROM attribution_runs WHERE run_id = ?", [run_id]).fetchone()
    if found is None:
        raise ValueError(f"attribution run {run_id} does not exist")
    model, milestone, revenue_type = found
    only = f"SELECT conversion_id FROM {ident(conversions)}"  # noqa: S608 - a table name, quoted
    with transaction(con):
        old_n, old_u = one_row(
            con,
            "SELECT count(DISTINCT conversion_id), count(DISTINCT conversion_id) FILTER (WHERE touchpoint_id IS NULL) "  # noqa: S608 - `only` above
            f"FROM credit_ledger WHERE run_id = ? AND conversion_id IN ({only})",
            [run_id],
        )
        con.execute(f"DELETE FROM credit_ledger WHERE run_id = ? AND conversion_id IN ({only})", [run_id])  # noqa: S608 - as above
        _insert_rows(con, rows, model=model, milestone=milestone, revenue_type=revenue_type, run_id=run_id)
        n, u = check_run(con, run_id, _relation(con, amounts), totals=True, tol=tol, only=conversions)
        con.execute(
            "UPDATE attribution_runs SET opportunities = opportunities - ? + ?, unattributed = unattributed - ? + ?, "
            "created_at = ? WHERE run_id = ?",
            [int(old_n), n, int(old_u), u, datetime.now(timezone.utc).replace(tzinfo=None), run_id],
        )
    return n, u


def write_ledger(
    con: duckdb.DuckDBPyConnection,
    rows: Rows | Sequence[Rows],
    *,
    model: str,
    milestone: str,
    revenue_type: str | None,
    params: dict | None = None,
    run_id: str | None = None,
    replace: bool = True,
    check: bool | Literal["totals"] = True,
    amounts: Rows | None = None,
    tol: float = 1e-6,
) -> str:
    """Write one run (one transaction): its rows, checked by `check_run`, and its attribution_runs
    row. Returns the run id.

    `rows` has the ROW_COLUMNS (missing DataFrame columns are NULL; a NULL conversion_type is
    'opportunity', a NULL revenue_type the run's). Several relations are inserted in order, in
    the same transaction: a later one may read the rows of an earlier one through the run id the
    caller passes (the rule runner does, for the conversions it did not credit). Why relations
    and not a DataFrame alone: a rule model over 10M touches yields millions of rows, and a
    DuckDB relation or an Ibis expression inserts them without a trip through pandas.
    `replace` drops earlier runs of the same (model, milestone, revenue_type); `amounts`
    (conversion_id, amount) enables the revenue-credit check; `check="totals"` is its cheap form
    (see `check_run`). A violation rolls the whole run back and raises ValueError.
    """
    if check == "totals" and amounts is None:
        raise ValueError("check='totals' needs amounts (every conversion of the run and its amount)")
    run_id = run_id or new_run_id(model)
    with transaction(con):
        if replace:
            _drop_earlier_runs(con, model, milestone, revenue_type)
        _insert_rows(con, rows, model=model, milestone=milestone, revenue_type=revenue_type, run_id=run_id)
        amounts_rel = None if amounts is None else _relation(con, amounts)
        if check:
            n_conv, n_unattr = check_run(con, run_id, amounts_rel, totals=check == "totals", tol=tol)
        else:
            n_conv, n_unattr = one_row(
                con,
                "SELECT count(DISTINCT conversion_id), count(DISTINCT conversion_id) FILTER (WHERE touchpoint_id IS NULL) "
                "FROM credit_ledger WHERE run_id = ?",
                [run_id],
            )
        _record_run(con, run_id, model, milestone, revenue_type, params, n_conv, n_unattr)
    return run_id


# ------------------------------------------------------------------ reading
@dataclass(frozen=True)
class RunSelection:
    """The ledger runs answering one question, and which of them are read for one revenue type.

    `typed_runs` are all-types runs read for a single revenue type: their rows are filtered by
    the ledger's own revenue_type column (the run has no per-type sibling).
    """

    run_ids: tuple[str, ...]
    typed_runs: tuple[str, ...] = ()
    revenue_type: str | None = None

    def sql(self, alias: str = "l") -> tuple[str, list[Any]]:
        """A WHERE conjunct keeping the selected runs' rows, with its parameters."""
        cond = f"list_contains(?::VARCHAR[], {alias}.run_id)"
        params: list[Any] = [list(self.run_ids)]
        if self.typed_runs:
            cond += f" AND (NOT list_contains(?::VARCHAR[], {alias}.run_id) OR {alias}.revenue_type = ?)"
            params += [list(self.typed_runs), self.revenue_type]
        return cond, params

    def ibis_filter(self, t: Any) -> Any:
        """The same conjunct as an Ibis boolean over a ledger table `t` (portable backends)."""
        if not self.run_ids:
            return ibis.literal(False)
        keep = t.run_id.isin(list(self.run_ids))
        if self.typed_runs:
            keep = keep & (~t.run_id.isin(list(self.typed_runs)) | (t.revenue_type == self.revenue_type))
        return keep


def select_runs_ibis(be: Any, wanted: Sequence[tuple[str, str | None]],
                     models: Sequence[str] | None = None) -> list[RunSelection]:
    """`select_runs` over the `attribution_runs` table of an Ibis backend (DuckDB's or Spark's),
    for each (milestone, revenue_type) of `wanted`: the runs are a few rows, fetched once and
    chosen here by the same rule."""
    runs = be.table("attribution_runs")
    milestones = sorted({m for m, _ in wanted})
    rows = runs.filter(runs.milestone.isin(milestones)).select(
        "milestone", "model", "revenue_type", "run_id", "created_at").to_pandas()
    rows = rows.sort_values(["created_at", "run_id"], ascending=False, kind="stable")
    out = []
    for milestone, revenue_type in wanted:
        mine = rows[rows["milestone"] == milestone]
        found = [(m, rt if isinstance(rt, str) else None, rid)
                 for m, rt, rid in mine[["model", "revenue_type", "run_id"]].itertuples(index=False, name=None)]
        out.append(choose_runs(found, milestone, revenue_type, models))
    return out


def select_runs(con: Any, milestone: str, revenue_type: str | None, models: Sequence[str] | None = None) -> RunSelection:
    """Pick, per model, the latest run(s) answering (milestone, revenue_type): the one rule of
    run selection every report, the CLI and the API share.

    * A revenue type is asked: the run made for exactly that type; else the model's all-types
      run with its rows filtered to the type.
    * No type (None or 'all'): the all-types run; else the model's per-type runs together
      (their conversions are disjoint).
    * Lead milestones have no revenue type: their runs are read whatever is asked.
    Never an all-types run together with per-type runs of the same model: that counts each
    conversion twice. Models without a matching run are left out (the caller decides whether
    that is an error).
    """
    runs = con.execute(
        "SELECT model, revenue_type, run_id FROM attribution_runs WHERE milestone = ? ORDER BY created_at DESC, run_id DESC",
        [milestone],
    ).fetchall()
    return choose_runs(runs, milestone, revenue_type, models)


def choose_runs(runs: Sequence[tuple[str, str | None, str]], milestone: str, revenue_type: str | None,
                models: Sequence[str] | None = None) -> RunSelection:
    """The rule of `select_runs` over (model, revenue_type, run_id) rows, newest first."""
    if milestone in LEAD_MILESTONES or revenue_type in ALL_TYPES:
        revenue_type = None
    wanted = set(models) if models else None
    by_model: dict[str, list[tuple[str | None, str]]] = {}
    for model, rt, run_id in runs:
        if wanted is None or model in wanted:
            by_model.setdefault(model, []).append((rt, run_id))
    chosen: list[str] = []
    typed: list[str] = []
    for mine in by_model.values():
        exact = [rid for rt, rid in mine if revenue_type is not None and rt == revenue_type]
        every = [rid for rt, rid in mine if rt in ALL_TYPES]
        if exact:
            chosen.append(exact[0])
        elif every:
            chosen.append(every[0])
            if revenue_type is not None:
                typed.append(every[0])
        elif revenue_type is None:
            latest: dict[str | None, str] = {}
            for rt, rid in mine:
                latest.setdefault(rt, rid)
            chosen.extend(latest.values())
    return RunSelection(tuple(chosen), tuple(typed), revenue_type)


def read_ledger(
    con: duckdb.DuckDBPyConnection,
    milestone: str = "won",
    revenue_type: str | None = None,
    models: Sequence[str] | None = None,
    columns: Sequence[str] = LEDGER_COLUMNS,
) -> duckdb.DuckDBPyRelation:
    """The ledger rows of the runs `select_runs` picks, as a lazy DuckDB relation (aggregate it,
    or `.df()` it). Enriched rows (touch type, campaign name, conversion date) are
    `revline.reports.tables.ledger_sql`, built on the same selection."""
    unknown = set(columns) - set(LEDGER_COLUMNS)
    if unknown:
        raise ValueError(f"unknown ledger columns {sorted(unknown)}; expected some of {list(LEDGER_COLUMNS)}")
    cond, params = select_runs(con, milestone, revenue_type, models).sql("l")
    return con.sql(
        f"SELECT {', '.join('l.' + c for c in columns)} FROM credit_ledger l WHERE l.milestone = ? AND {cond}",  # noqa: S608 - columns checked against LEDGER_COLUMNS; run selection bound
        params=[milestone, *params],
    )


__all__ = [
    "ALL_TYPES", "COLUMNS", "LEDGER_COLUMNS", "ROW_COLUMNS", "ROW_TYPES", "RunSelection", "UNATTRIBUTED",
    "check_run", "choose_runs", "conform", "new_run_id", "read_ledger", "rewrite_conversions", "select_runs",
    "select_runs_ibis", "write_ledger",
]

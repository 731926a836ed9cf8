"""Flat files with revline's own meaning: revenue targets, canonical table dumps (spend: spend.py)."""

from __future__ import annotations

from revline.ingest.context import Ctx
from revline.ingest.crm import BAD_CURRENCY
from revline.ingest.readers import Staged, _new_name
from revline.ingest.sqlfrag import ident
from revline.ingest.upsert import Written, upsert
from revline.ingest.validate import Check, Field, typed_rows
from revline.store.rows import scalar

TARGET_ALIASES = {
    "period": ["period", "quarter", "month"], "period_start": ["period_start", "start", "start_date"],
    "period_end": ["period_end", "end", "end_date"], "segment": ["segment"],
    "revenue_target": ["revenue_target", "revenue"], "pipeline_target": ["pipeline_target", "pipeline"],
}
TARGET_SPEC = {
    "period": Field(), "period_start": Field("date"), "period_end": Field("date"), "segment": Field(),
    "revenue_target": Field("decimal"), "pipeline_target": Field("decimal"),
}


def period_bounds(expr: str) -> tuple[str, str]:
    """SQL for (start, end) of '2025-Q1', '2025-01', '2025', or 'YYYY-MM-DD..YYYY-MM-DD' (also '/' or ' to ')."""
    p = f"upper(trim({expr}))"
    q = f"regexp_extract({p}, '^(\\d{{4}})-?Q([1-4])$', ['y', 'q'])"
    m = f"regexp_extract({p}, '^(\\d{{4}})-(\\d{{1,2}})$', ['y', 'm'])"
    r = f"regexp_extract({p}, '^(\\d{{4}}-\\d{{2}}-\\d{{2}})\\s*(?:\\.\\.|/|TO)\\s*(\\d{{4}}-\\d{{2}}-\\d{{2}})$', ['a', 'b'])"
    start = (
        f"(CASE WHEN {q}.y <> '' THEN make_date(TRY_CAST({q}.y AS INT), (TRY_CAST({q}.q AS INT) - 1) * 3 + 1, 1) "
        f"WHEN {m}.y <> '' AND TRY_CAST({m}.m AS INT) BETWEEN 1 AND 12 THEN make_date(TRY_CAST({m}.y AS INT), TRY_CAST({m}.m AS INT), 1) "
        f"WHEN regexp_full_match({p}, '\\d{{4}}') THEN make_date(TRY_CAST({p} AS INT), 1, 1) "
        f"WHEN {r}.a <> '' THEN TRY_CAST({r}.a AS DATE) END)"
    )
    end = (
        f"(CASE WHEN {q}.y <> '' THEN TRY_CAST(make_date(TRY_CAST({q}.y AS INT), (TRY_CAST({q}.q AS INT) - 1) * 3 + 1, 1) + INTERVAL 3 MONTH - INTERVAL 1 DAY AS DATE) "
        f"WHEN {m}.y <> '' AND TRY_CAST({m}.m AS INT) BETWEEN 1 AND 12 THEN TRY_CAST(make_date(TRY_CAST({m}.y AS INT), TRY_CAST({m}.m AS INT), 1) + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE) "
        f"WHEN regexp_full_match({p}, '\\d{{4}}') THEN make_date(TRY_CAST({p} AS INT), 12, 31) "
        f"WHEN {r}.b <> '' THEN TRY_CAST({r}.b AS DATE) END)"
    )
    return start, end


def load_targets(ctx: Ctx, staged: Staged) -> None:
    """Revenue and pipeline targets per period and segment. The period is period_start/period_end
    or a `period` ('2025-Q1', '2025-01', '2025', a date range); one that cannot be read or ends
    before it starts is quarantined."""
    ps, pe = period_bounds("period")
    start, end = f"coalesce(period_start, {ps})", f"coalesce(period_end, {pe})"
    checks = [
        Check("period", f"{start} IS NULL OR {end} IS NULL",
              "CASE WHEN period IS NULL THEN 'missing required field' ELSE 'cannot parse period: ' || period END"),
        Check("period", f"{end} < {start}", "'period ends before it starts'"),
        Check("revenue_target", "revenue_target < 0", "'negative amount'"),
        Check("pipeline_target", "pipeline_target < 0", "'negative amount'"),
    ]
    t = typed_rows(ctx.con, staged, TARGET_SPEC, TARGET_ALIASES, table_name="targets", checks=checks)
    ctx.record("targets", read=staged.rows_read, quarantined=t.quarantined_rows)
    sql = (
        f"SELECT {start} AS period_start, {end} AS period_end, coalesce(segment, 'all') AS segment, "  # noqa: S608 - period expressions are this module's SQL; t.table from _new_name
        f"revenue_target, pipeline_target, _row AS _ord FROM {t.table}"
    )
    ctx.record("targets", written=upsert(ctx.con, "targets", sql, ["period_start", "period_end", "segment"]))


_KIND = {"VARCHAR": "text", "TIMESTAMP": "timestamp", "DATE": "date", "DOUBLE": "double", "BOOLEAN": "bool",
         "INTEGER": "int", "BIGINT": "int", "JSON": "text"}


def canonical_columns(con, table: str) -> list[tuple[str, str, bool]]:
    """(column, kind, required) of a canonical table, from the catalog."""
    rows = con.execute(
        "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
        "WHERE table_name = ? AND schema_name = 'main' AND NOT internal ORDER BY column_index", [table]
    ).fetchall()
    out = []
    for name, dtype, nullable, default in rows:
        kind = "decimal" if dtype.startswith("DECIMAL") else _KIND.get(dtype, "text")
        out.append((name, kind, (not nullable) and default is None))
    return out


def primary_key(con, table: str) -> list[str]:
    """The primary-key columns of a canonical table, from the catalog ([] if it has none)."""
    rows = con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = ? "
        "AND constraint_type = 'PRIMARY KEY' AND schema_name = 'main'", [table]
    ).fetchall()
    return list(rows[0][0]) if rows else []


def load_canonical(ctx: Ctx, staged: Staged, table: str) -> None:
    """A dump of a revline table (columns named as in the table) loads back by primary key."""
    con = ctx.con
    cols = canonical_columns(con, table)
    keys = primary_key(con, table)
    spec = {name: Field(kind, req, unique=[name] == keys) for name, kind, req in cols}
    aliases = {name: [name] for name in spec}
    checks = []
    if "currency" in spec:
        checks.append(BAD_CURRENCY)
    t = typed_rows(con, staged, spec, aliases, table_name=table, checks=checks)
    ctx.record(table, read=staged.rows_read, quarantined=t.quarantined_rows)
    present = {c for c in staged.columns}
    use = [n for n in spec if n in present]
    dtype = dict(con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main'", [table]
    ).fetchall())
    sel = ", ".join(f"CAST({ident(n)} AS {dtype[n]}) AS {ident(n)}" for n in use)
    if keys:
        ctx.record(table, written=upsert(con, table, f"SELECT {sel}, _row AS _ord FROM {t.table}", keys))  # noqa: S608 - catalog column names quoted by ident; canonical table name; temp names
    else:
        new = _new_name("canon")
        cl = ", ".join(ident(n) for n in use)
        con.execute(f"CREATE TEMP TABLE {new} AS SELECT DISTINCT {sel} FROM {t.table} EXCEPT SELECT {cl} FROM {table}")  # noqa: S608 - catalog column names quoted by ident; canonical table name; temp names
        n = scalar(con, f"SELECT count(*) FROM {new}")  # noqa: S608 - catalog column names quoted by ident; canonical table name; temp names
        con.execute(f"INSERT INTO {table} ({cl}) SELECT {cl} FROM {new}")  # noqa: S608 - catalog column names quoted by ident; canonical table name; temp names
        con.execute(f"DROP TABLE {new}")
        # no key: a row the file repeats, or one stored already (a --force re-ingest), is merged
        ctx.record(table, written=Written(loaded=n, merged=scalar(con, f"SELECT count(*) FROM {t.table}") - n))  # noqa: S608 - temp name

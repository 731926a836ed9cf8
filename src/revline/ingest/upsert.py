"""Writing rows into canonical tables by key, so re-ingest changes nothing and newer exports update.

Why count before writing: the report distinguishes new rows from changed ones, and rows whose
values are identical to the stored ones are not rewritten at all (a re-ingest is a no-op).
"""

from __future__ import annotations

import duckdb

from revline.ingest.readers import _new_name
from revline.ingest.sqlfrag import ident
from revline.store.rows import scalar


def has_key_constraint(con: duckdb.DuckDBPyConnection, table: str, keys: list[str]) -> bool:
    """Whether `keys` are `table`'s primary key or a unique constraint (ON CONFLICT needs one)."""
    rows = con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = ? "
        "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') AND database_name = current_database() "
        "AND schema_name = current_schema()",
        [table],
    ).fetchall()
    return any(sorted(r[0]) == sorted(keys) for r in rows)


def is_empty(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `table` has no row (cheaper than count(*) on a big table)."""
    return scalar(con, f"SELECT NOT EXISTS (SELECT 1 FROM {table})")


def insert_new(
    con: duckdb.DuckDBPyConnection,
    target: str,
    select_sql: str,
    keys: list[str],
    *,
    order_by: str = "_ord",
    batch_unique: bool = False,
    check_existing: bool = True,
) -> int:
    """Insert the rows of `select_sql` whose key is not in `target` yet; returns how many.

    Why not INSERT OR IGNORE: DuckDB then probes the primary-key index row by row, which made
    million-row Segment loads crawl. An anti-join against the stored keys (skipped when the
    target is empty) plus a plain INSERT does the same in bulk. Duplicates inside the batch keep
    the first row by `order_by`; `batch_unique=True` says the caller already guarantees unique
    keys (saves a window over the batch), `check_existing=False` that it already removed keys
    present in `target`."""
    part = ", ".join(ident(k) for k in keys)
    not_null = " AND ".join(f"s.{ident(k)} IS NOT NULL" for k in keys)
    cols = [d[0] for d in con.execute(f"SELECT * EXCLUDE ({order_by}) FROM ({select_sql}) LIMIT 0").description]
    col_list = ", ".join(ident(c) for c in cols)
    where = [not_null]
    if check_existing and not is_empty(con, target):
        on = " AND ".join(f"t.{ident(k)} = s.{ident(k)}" for k in keys)
        where.append(f"NOT EXISTS (SELECT 1 FROM {target} t WHERE {on})")
    body = f"SELECT * FROM ({select_sql}) s WHERE {' AND '.join(where)}"
    if not batch_unique:
        body += f" QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY {ident(order_by)}) = 1"
    return scalar(con, f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM ({body})")


def upsert(
    con: duckdb.DuckDBPyConnection,
    target: str,
    select_sql: str,
    keys: list[str],
    *,
    update: bool = True,
    order_by: str = "_ord",
    batch_unique: bool = False,
    check_existing: bool = True,
) -> tuple[int, int]:
    """Insert the rows of `select_sql` (its columns: some of `target`'s plus `_ord`, the later
    the newer) into `target`; returns (loaded, updated). Duplicates within the batch keep the
    newest. With `update=False` existing keys are left alone (first observation wins; see
    `insert_new` for `batch_unique` / `check_existing`)."""
    if not update:
        return insert_new(con, target, select_sql, keys, order_by=order_by, batch_unique=batch_unique,
                          check_existing=check_existing), 0
    new = _new_name("new")
    part = ", ".join(ident(k) for k in keys)
    not_null = " AND ".join(f"{ident(k)} IS NOT NULL" for k in keys)
    con.execute(
        f"CREATE TEMP TABLE {new} AS SELECT * EXCLUDE ({order_by}) FROM ({select_sql}) WHERE {not_null} "
        f"QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY {order_by} DESC) = 1"
    )
    cols = [r[0] for r in con.execute(f"DESCRIBE {new}").fetchall()]
    others = [c for c in cols if c not in keys]
    on = " AND ".join(f"t.{ident(k)} = n.{ident(k)}" for k in keys)
    col_list = ", ".join(ident(c) for c in cols)
    if others and update:
        differs = (
            f"ROW({', '.join('n.' + ident(c) for c in others)}) IS DISTINCT FROM "
            f"ROW({', '.join('t.' + ident(c) for c in others)})"
        )
        changed_sql = f"SELECT n.* FROM {new} n JOIN {target} t ON {on} WHERE {differs}"
    else:
        changed_sql = None
    fresh_sql = f"SELECT n.* FROM {new} n WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {on})"
    loaded = scalar(con, f"SELECT count(*) FROM ({fresh_sql})")
    updated = 0
    if changed_sql:
        changed = _new_name("chg")
        con.execute(f"CREATE TEMP TABLE {changed} AS {changed_sql}")
        updated = scalar(con, f"SELECT count(*) FROM {changed}")
        if updated and has_key_constraint(con, target, keys):
            sets = ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in others)
            con.execute(
                f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {changed} "
                f"ON CONFLICT ({part}) DO UPDATE SET {sets}"
            )
        elif updated:  # keys kept unique by the writers, not by an index (touchpoints)
            sets = ", ".join(f"{ident(c)} = n.{ident(c)}" for c in others)
            on_t = " AND ".join(f"{target}.{ident(k)} = n.{ident(k)}" for k in keys)
            con.execute(f"UPDATE {target} SET {sets} FROM {changed} n WHERE {on_t}")
        con.execute(f"DROP TABLE {changed}")
    if loaded:
        con.execute(f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM ({fresh_sql})")
    con.execute(f"DROP TABLE {new}")
    return loaded, updated

"""Writing rows into canonical tables by key, so re-ingest changes nothing and newer exports update.

Why count before writing: the report distinguishes new rows from changed ones, and rows whose
values are identical to the stored ones are not rewritten at all (a re-ingest is a no-op).
"""

from __future__ import annotations

import duckdb

from revline.ingest.readers import _new_name
from revline.ingest.sqlfrag import ident


def upsert(
    con: duckdb.DuckDBPyConnection,
    target: str,
    select_sql: str,
    keys: list[str],
    *,
    update: bool = True,
    order_by: str = "_ord",
) -> tuple[int, int]:
    """Insert the rows of `select_sql` (its columns: some of `target`'s plus `_ord`, the later
    the newer) into `target`; returns (loaded, updated). Duplicates within the batch keep the
    newest. With `update=False` existing keys are left alone (first observation wins)."""
    new = _new_name("new")
    part = ", ".join(ident(k) for k in keys)
    not_null = " AND ".join(f"{ident(k)} IS NOT NULL" for k in keys)
    if not update:
        # first observation wins: one INSERT OR IGNORE; the row count tells what was new
        before = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        cols = [d[0] for d in con.execute(f"SELECT * EXCLUDE ({order_by}) FROM ({select_sql}) LIMIT 0").description]
        col_list = ", ".join(ident(c) for c in cols)
        # duplicates inside the batch are ignored too (DuckDB keeps the first it meets)
        con.execute(
            f"INSERT OR IGNORE INTO {target} ({col_list}) SELECT {col_list} FROM ({select_sql}) WHERE {not_null}"
        )
        return con.execute(f"SELECT count(*) FROM {target}").fetchone()[0] - before, 0
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
    loaded = con.execute(f"SELECT count(*) FROM ({fresh_sql})").fetchone()[0]
    updated = 0
    if changed_sql:
        changed = _new_name("chg")
        con.execute(f"CREATE TEMP TABLE {changed} AS {changed_sql}")
        updated = con.execute(f"SELECT count(*) FROM {changed}").fetchone()[0]
        if updated:
            sets = ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in others)
            con.execute(
                f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {changed} "
                f"ON CONFLICT ({part}) DO UPDATE SET {sets}"
            )
        con.execute(f"DROP TABLE {changed}")
    if loaded:
        con.execute(f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM ({fresh_sql})")
    con.execute(f"DROP TABLE {new}")
    return loaded, updated

"""Writing rows into canonical tables by key, so re-ingest changes nothing and newer exports update.

Why count before writing: the report distinguishes new rows from changed ones, and rows whose
values are identical to the stored ones are not rewritten at all (a re-ingest is a no-op); every
row given is counted once as loaded, merged or updated (`Written`), so the summaries add up.
"""

from __future__ import annotations

from typing import NamedTuple

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


class Written(NamedTuple):
    """What a write did with the rows it was given: every row with a key is exactly one of these.

    loaded: a key the table did not hold; updated: a stored row it changed, or a row a later row
    of the same batch restates with other values (the later one wins) where the key is loaded or
    updated; merged: a row that changed nothing, being identical to the stored row or to the later
    row of the batch that restates it, or restated by a later row identical to the stored row (the
    key ends as it was, as on a --force re-ingest of a file that states a key twice), or (with
    update=False) naming a key already stored or earlier in the batch (first one wins).
    So a reader's summary adds up: read = loaded + merged + updated + quarantined, and a write
    changed the table exactly when loaded or updated is not 0 (ingest bumps the data version then)."""

    loaded: int = 0
    merged: int = 0
    updated: int = 0

    @property
    def rows(self) -> int:
        return self.loaded + self.merged + self.updated


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
    ignore: tuple[str, ...] = (),
) -> Written:
    """Insert the rows of `select_sql` (its columns: some of `target`'s plus `_ord`, the later
    the newer) into `target`; returns how many rows were loaded, merged and updated (see
    `Written`). Duplicates within the batch keep the newest. With `update=False` existing keys
    are left alone (first observation wins; see `insert_new` for `batch_unique` /
    `check_existing`). Rows without a key are not written and not counted: callers quarantine
    them first (a required field).

    `ignore` names provenance columns (the file and row a value was read from): they are written
    but left out of every comparison, so a line repeated word for word, or a stored row restated
    by another file or row, is merged. The row written for a key is the batch's newest, with its
    provenance; a stored row whose other values the batch repeats is not rewritten and keeps its
    own."""
    if not update:
        if batch_unique and not check_existing:  # the caller removed repeats and stored keys: all new
            return Written(loaded=insert_new(con, target, select_sql, keys, order_by=order_by, batch_unique=True,
                                             check_existing=False))
        not_null = " AND ".join(f"{ident(k)} IS NOT NULL" for k in keys)
        rows = scalar(con, f"SELECT count(*) FROM ({select_sql}) WHERE {not_null}")
        loaded = insert_new(con, target, select_sql, keys, order_by=order_by, batch_unique=batch_unique,
                            check_existing=check_existing)
        return Written(loaded=loaded, merged=rows - loaded)
    ranked, new = _new_name("rank"), _new_name("new")
    part = ", ".join(ident(k) for k in keys)
    not_null = " AND ".join(f"{ident(k)} IS NOT NULL" for k in keys)
    con.execute(
        f"CREATE TEMP TABLE {ranked} AS SELECT * EXCLUDE ({order_by}), "
        f"row_number() OVER (PARTITION BY {part} ORDER BY {order_by} DESC) AS _rank "
        f"FROM ({select_sql}) WHERE {not_null}"
    )
    con.execute(f"CREATE TEMP TABLE {new} AS SELECT * EXCLUDE (_rank) FROM {ranked} WHERE _rank = 1")
    cols = [r[0] for r in con.execute(f"DESCRIBE {new}").fetchall()]
    others = [c for c in cols if c not in keys]
    compared = [c for c in others if c not in ignore]
    on = " AND ".join(f"t.{ident(k)} = n.{ident(k)}" for k in keys)
    col_list = ", ".join(ident(c) for c in cols)

    def differs(a: str, b: str) -> str:
        if not compared:
            return "false"
        return (f"ROW({', '.join(f'{a}.' + ident(c) for c in compared)}) IS DISTINCT FROM "
                f"ROW({', '.join(f'{b}.' + ident(c) for c in compared)})")

    # earlier rows of a key the batch restates: merged when the winning row says the same, or when
    # the winner says what is stored (the key ends as it was: a --force re-ingest of a file that
    # restates it); updated only when the key's stored row really changes (new or other values)
    on_r = " AND ".join(f"r.{ident(k)} = n.{ident(k)}" for k in keys)
    kept = f"(t.{ident(keys[0])} IS NOT NULL AND NOT ({differs('n', 't')}))"
    restated_sql = f"{differs('r', 'n')} AND NOT {kept}"
    restated, repeated = con.execute(
        f"SELECT count(*) FILTER (WHERE {restated_sql}), count(*) FILTER (WHERE NOT ({restated_sql})) "
        f"FROM {ranked} r JOIN {new} n ON {on_r} LEFT JOIN {target} t ON {on} WHERE r._rank > 1"
    ).fetchone() or (0, 0)
    con.execute(f"DROP TABLE {ranked}")
    stored = scalar(con, f"SELECT count(*) FROM {new} n JOIN {target} t ON {on}")
    changed_sql = f"SELECT n.* FROM {new} n JOIN {target} t ON {on} WHERE {differs('n', 't')}"
    fresh_sql = f"SELECT n.* FROM {new} n WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {on})"
    loaded = scalar(con, f"SELECT count(*) FROM ({fresh_sql})")
    updated = 0
    if compared and stored:
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
    return Written(loaded=int(loaded), merged=int(stored) - int(updated) + int(repeated),
                   updated=int(updated) + int(restated))

"""Bringing a store file to the current schema version, one transaction per step."""

from __future__ import annotations

import duckdb

from revline.store.schema import MIGRATIONS, statements
from revline.store.transaction import transaction


class SchemaTooNewError(RuntimeError):
    """The file was written by a newer revline; refusing to touch it protects the data."""


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_meta'"
    ).fetchone()[0]
    if not exists:
        return 0
    row = con.execute("SELECT value FROM schema_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> list[int]:
    """Apply every pending migration up to `target` (default: newest); returns the versions applied."""
    newest = MIGRATIONS[-1][0]
    target = newest if target is None else target
    version = current_version(con)
    if version > newest:
        raise SchemaTooNewError(
            f"store schema version {version} is newer than this revline supports ({newest}); upgrade revline"
        )
    applied: list[int] = []
    for step_version, step in MIGRATIONS:
        if step_version <= version or step_version > target:
            continue
        with transaction(con):
            con.execute("CREATE TABLE IF NOT EXISTS schema_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            for sql in statements(step, con):
                con.execute(sql)
            con.execute(
                "INSERT OR REPLACE INTO schema_meta VALUES ('schema_version', ?)", [str(step_version)]
            )
        applied.append(step_version)
    return applied

"""Bringing a store file to the current schema version, one transaction per step."""

from __future__ import annotations

from pathlib import Path

import duckdb

from revline.store.errors import SchemaTooNewError, SchemaTooOldError
from revline.store.rows import scalar
from revline.store.schema import MIGRATIONS, statements
from revline.store.transaction import transaction

__all__ = ["SchemaTooNewError", "check_version", "current_version", "migrate"]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in the store; 0 for a store without schema_meta (a new file)."""
    exists = scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_meta'")
    if not exists:
        return 0
    row = con.execute("SELECT value FROM schema_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def check_version(con: duckdb.DuckDBPyConnection, path: Path | str, *, read_only: bool) -> int:
    """The store's schema version, refusing a newer one (this revline would misread it) and, for
    a read-only opening that cannot migrate, an older one. Every command runs this on open."""
    newest = MIGRATIONS[-1][0]
    version = current_version(con)
    if version > newest:
        raise SchemaTooNewError(
            f"store {path} has schema version {version}, newer than this revline supports ({newest}); "
            f"upgrade revline (pip install -U revline) to use it"
        )
    if read_only and version < newest:
        raise SchemaTooOldError(
            f"store {path} has schema version {version} and this revline needs {newest}; "
            f"run `revline init --db {path}` to migrate it, then run the command again"
        )
    return version


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

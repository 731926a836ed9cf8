"""One explicit transaction on a DuckDB connection, as a `with` block.

Why one helper: every writer (migrations, ingest, stitching, journeys, the ledger, the collector)
must leave the store exactly as it was when anything fails, including a KeyboardInterrupt, and
nine hand-written BEGIN/COMMIT/ROLLBACK blocks each got that slightly differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN; COMMIT when the block ends, ROLLBACK (and re-raise) when it raises anything or the
    COMMIT itself fails (DuckDB may already have ended a transaction whose commit failed)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    try:
        con.execute("COMMIT")
    except duckdb.Error:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # nothing left to roll back
        raise

"""One explicit transaction on a DuckDB connection, as a `with` block.

Why one helper: every writer (migrations, ingest, stitching, journeys, the ledger, the collector)
must leave the store exactly as it was when anything fails, including a KeyboardInterrupt, and
nine hand-written BEGIN/COMMIT/ROLLBACK blocks each got that slightly differently.

`atomic(con)` makes a whole operation one transaction: `transaction(con)` blocks run inside it
join it instead of committing on their own (DuckDB has no nested transactions), so an operation
of many steps (stitch then journeys; one ledger run after another) commits all or nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

_outer: set[int] = set()  # id() of connections inside an `atomic` block
_outer_lock = threading.Lock()


@contextmanager
def _begin(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
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


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN; COMMIT when the block ends, ROLLBACK (and re-raise) when it raises anything or the
    COMMIT itself fails (DuckDB may already have ended a transaction whose commit failed).
    Inside `atomic(con)`, the block is part of that transaction instead."""
    if id(con) in _outer:
        yield con
        return
    with _begin(con):
        yield con


@contextmanager
def atomic(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction around everything in the block, `transaction()` blocks included."""
    if id(con) in _outer:
        yield con
        return
    with _begin(con):
        with _outer_lock:
            _outer.add(id(con))
        try:
            yield con
        finally:
            with _outer_lock:
                _outer.discard(id(con))

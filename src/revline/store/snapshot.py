"""A consistent read copy of the store, for readers while a server holds the file.

Why a copy: DuckDB's file lock admits one writing process and no reader beside it. The server
copies its store with DuckDB's `COPY FROM DATABASE` into a new file (one read transaction, so
the copy is the store as of one instant, whatever the collector writes meanwhile), then renames
it over the previous copy. A reader that has the old copy open keeps reading it (the rename does
not touch an open file); the next `connect(read_only=True)` opens the new one. The copy carries a
one-row table `snapshot_info(as_of)` saying when it was taken.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from revline.store.connection import STORAGE_VERSION


@dataclass(frozen=True)
class SnapshotInfo:
    path: str
    as_of: str
    seconds: float
    bytes: int


def _quote(text: str) -> str:
    """A SQL string literal (ATTACH takes no bound parameters)."""
    return "'" + text.replace("'", "''") + "'"


def _ident(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def write_snapshot(con: duckdb.DuckDBPyConnection, target: Path) -> SnapshotInfo:
    """Copy the database `con` is attached to into `target`, atomically replacing it."""
    started = time.perf_counter()
    target = Path(target)
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    cur = con.cursor()
    source = cur.execute("SELECT current_database()").fetchone()[0]
    alias = "revline_snapshot_target"
    as_of = datetime.now(timezone.utc).replace(tzinfo=None)
    cur.execute(f"ATTACH {_quote(str(tmp))} AS {alias} (STORAGE_VERSION {_quote(STORAGE_VERSION)})")
    try:
        cur.execute(f"COPY FROM DATABASE {_ident(source)} TO {alias}")
        cur.execute(f"CREATE TABLE {alias}.snapshot_info AS SELECT ?::TIMESTAMP AS as_of", [as_of])
    except BaseException:
        cur.execute(f"DETACH {alias}")
        tmp.unlink(missing_ok=True)
        raise
    finally:
        cur.close()
    con.execute(f"DETACH {alias}")
    os.replace(tmp, target)
    return SnapshotInfo(str(target), as_of.isoformat(sep=" "), time.perf_counter() - started, target.stat().st_size)

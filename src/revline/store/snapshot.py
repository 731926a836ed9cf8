"""A consistent read copy of the store, for readers while a server holds the file.

Why a copy: DuckDB's file lock admits one writing process and no reader beside it. The fast way
(`checkpoint_copy`): with every writer of the process paused (the caller holds the server's write
lock), CHECKPOINT moves everything committed into the file and empties the WAL, so the file is
the store as of that instant; `cp` copies it (a copy made by another process: opening and
closing the store file in this one would drop DuckDB's fcntl lock on it). The fallback, when
the WAL is not empty after the CHECKPOINT (another transaction kept it): DuckDB's
`COPY FROM DATABASE` into a new file, one read transaction, about 30x slower. Either copy is then
renamed over the previous one. A reader that has the old copy open keeps reading it (the rename does
not touch an open file); the next `connect(read_only=True)` opens the new one. The copy carries a
one-row table `snapshot_info(as_of)` saying when it was taken.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from revline.store.connection import STORAGE_VERSION
from revline.store.rows import scalar
from revline.store.sql import ident, lit


@dataclass(frozen=True)
class SnapshotInfo:
    """Where a snapshot was written, the instant it shows, how long it took and its size in bytes."""

    path: str
    as_of: str
    seconds: float
    bytes: int


def write_snapshot(con: duckdb.DuckDBPyConnection, target: Path, db_file: Path | None = None) -> SnapshotInfo:
    """Copy the database `con` is attached to into `target`, atomically replacing it.

    With `db_file` (the store's file; the caller must hold every writer of the process off) the
    checkpoint-and-copy way is tried first."""
    started = time.perf_counter()
    target = Path(target)
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    as_of = datetime.now(timezone.utc).replace(tzinfo=None)
    if db_file is not None and _checkpoint_copy(con, Path(db_file), tmp):
        copy = duckdb.connect(str(tmp))
        try:
            copy.execute("CREATE OR REPLACE TABLE snapshot_info AS SELECT ?::TIMESTAMP AS as_of", [as_of])
        finally:
            copy.close()
    else:
        _copy_database(con, tmp, as_of)
    os.replace(tmp, target)
    return SnapshotInfo(str(target), as_of.isoformat(sep=" "), time.perf_counter() - started, target.stat().st_size)


def _checkpoint_copy(con: duckdb.DuckDBPyConnection, db_file: Path, tmp: Path) -> bool:
    """CHECKPOINT, then `cp` the file when the WAL is empty; False when it is not."""
    try:
        con.execute("CHECKPOINT")
    except duckdb.Error:
        return False
    wal = db_file.with_name(db_file.name + ".wal")
    if wal.exists() and wal.stat().st_size > 0:
        return False
    # a fixed argument list, no shell; GNU cp from PATH for --reflink (a copy-on-write clone where the
    # file system can)
    subprocess.run(["cp", "--reflink=auto", "--", str(db_file), str(tmp)], check=True, capture_output=True)  # noqa: S603, S607
    return True


def _copy_database(con: duckdb.DuckDBPyConnection, tmp: Path, as_of: datetime) -> None:
    cur = con.cursor()
    source = scalar(cur, "SELECT current_database()")
    alias = "revline_snapshot_target"
    # ATTACH takes no bound parameters: the path and the version go in through store.sql.lit
    cur.execute(f"ATTACH {lit(str(tmp))} AS {alias} (STORAGE_VERSION {lit(STORAGE_VERSION)})")
    try:
        cur.execute(f"COPY FROM DATABASE {ident(source)} TO {alias}")
        cur.execute(f"CREATE TABLE {alias}.snapshot_info AS SELECT ?::TIMESTAMP AS as_of", [as_of])
    except BaseException:
        cur.execute(f"DETACH {alias}")
        tmp.unlink(missing_ok=True)
        raise
    finally:
        cur.close()
    con.execute(f"DETACH {alias}")

"""Why a store file cannot be opened, as one line that names the file and the next step.

Why a module of its own: every command and the server open the store through
`connection.connect`, and each way it can fail (another process holds it, a newer revline wrote
it, the file is cut short or is not a DuckDB file, the disk refuses writes) must reach the user
as the same kind of message, caught in one place by the CLI, never as a DuckDB traceback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb


class StoreError(RuntimeError):
    """The store file cannot be used as it is; the message says which file and what to do."""


class StoreLockedError(StoreError):
    """Another process (usually a running `revline serve`) has the store open."""


class StoreDamagedError(StoreError):
    """The file is not a whole DuckDB store: truncated, overwritten or not a database at all."""


class StoreReadOnlyError(StoreError):
    """The file or its directory cannot be written, and the command needs to write."""


class SchemaTooNewError(StoreError):
    """The file was written by a newer revline; refusing to touch it protects the data."""


class SchemaTooOldError(StoreError):
    """A read-only command met a store an older revline wrote; it must be migrated first."""


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)")


def damaged(path: Path, detail: str) -> StoreDamagedError:
    """The one-line error for a store that cannot be read, with the way out."""
    return StoreDamagedError(
        f"store {path} is damaged ({detail}); restore it from a backup, or move it aside and rebuild it "
        f"with `revline ingest` (or `revline demo`)"
    )


def open_error(path: Path, exc: duckdb.Error) -> StoreError | None:
    """The StoreError for a DuckDB error raised while opening `path`, or None if it is none of
    the known cases (the caller then re-raises the original)."""
    text = str(exc)
    if "Could not set lock" in text or "Conflicting lock" in text:
        m = _LOCK_HOLDER.search(text)
        who = f"process {m['pid']} ({Path(m['prog']).name})" if m else "another process"
        return StoreLockedError(
            f"store {path} is in use by {who}, for example a running `revline serve`; "
            f"stop that process (or wait for it to finish), then run the command again"
        )
    if "not a valid DuckDB database file" in text or "database file is corrupt" in text.lower():
        return damaged(path, "not a valid DuckDB database file")
    if "Could not read enough bytes" in text or "checksum" in text.lower():
        return damaged(path, "the file is shorter than its own header says, or a block fails its checksum")
    if "Permission denied" in text or "Read-only file system" in text:
        return StoreReadOnlyError(
            f"store {path} cannot be written (permission denied or read-only disk); fix its permissions or "
            f"copy it somewhere writable and pass --db"
        )
    if "newer version of DuckDB" in text or "created with a newer" in text or "version number" in text:
        return SchemaTooNewError(
            f"store {path} was written by a newer DuckDB than this revline uses; upgrade revline"
        )
    return None


# DuckDB's file layout: three 4 KiB headers (main + two database headers), then the blocks.
FILE_HEADER_BYTES = 3 * 4096


def check_size(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Raise StoreDamagedError when the file is too short to hold the blocks in use: a store cut
    short (a copy interrupted, a full disk) opens without complaint and fails only when a query
    reaches a missing block, so compare the header's count of used blocks with the file's size
    once on open. Used, not total: DuckDB cuts free blocks off the end of the file, so a whole
    store may be shorter than its total block count says."""
    if str(path) == ":memory:":
        return
    row = con.execute(
        "SELECT used_blocks, block_size FROM pragma_database_size() WHERE database_name = current_database()"
    ).fetchone()
    if not row or row[0] is None:
        return
    needed = FILE_HEADER_BYTES + int(row[0]) * int(row[1])
    size = os.path.getsize(path)
    if size < needed:
        raise damaged(path, f"the file has {size:,} bytes but its blocks in use need {needed:,}: it was cut short")

"""Opening the store: one embedded DuckDB file, plus an Ibis handle for portable transforms.

Why both: DuckDB SQL is the fastest path on one machine, while transforms that must also run
on Spark or a warehouse are written against Ibis and receive a backend from `ibis_backend`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import duckdb

from revline.store.errors import StoreLockedError, StoreReadOnlyError, check_size, open_error
from revline.store.hub import read_advert, snapshot_path
from revline.store.migrations import check_version, migrate

DEFAULT_DB = "revline.duckdb"
# The on-disk format a new store is written in: the pinned DuckDB's own (see pyproject), not the
# 1.0 format DuckDB defaults to for compatibility. Its DICT_FSST string compression analyses each
# string column once where the 1.0 format tries dictionary and FSST apart: the events and
# touchpoints writes of a 1M-event ingest took 1.2 s instead of 2.1. The format is chosen when
# the file is made and kept by every later connection, so a store made before keeps its own.
STORAGE_VERSION = "v1.5.0"


def resolve_db_path(db: str | os.PathLike[str] | None = None) -> Path:
    """`--db` wins, then `REVLINE_DB`, then ./revline.duckdb."""
    if db is not None:
        return Path(db)
    env = os.environ.get("REVLINE_DB")
    if env:
        return Path(env)
    return Path(DEFAULT_DB)


def connect(
    db: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    create: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Open (and, unless read-only, migrate to the current schema) the store file.

    Every command and the server open the store here, so every one of them gets the same
    checks: the file is whole (`errors.check_size`), its schema is one this revline reads
    (`migrations.check_version`), and a failure is a `StoreError` of one line naming the file
    and the next step (the CLI prints it; see revline.cli).

    `db=":memory:"` gives a throwaway store, handy in tests and notebooks.
    """
    path = resolve_db_path(db)
    if str(path) != ":memory:" and not path.exists() and (read_only or not create):
        raise FileNotFoundError(f"No revline store at {path}. Run `revline init --db {path}` or `revline demo` first.")
    try:
        con = _open(path, read_only)
    except duckdb.Error as exc:
        if _is_lock_error(exc) and (snapshot := _held_by_server(path, read_only)) is not None:
            return snapshot
        err = open_error(path, exc)
        if err is None:
            raise
        raise err from None
    except PermissionError as exc:
        raise StoreReadOnlyError(
            f"store {path} cannot be created or written ({exc.strerror}); fix the permissions or pass another --db"
        ) from None
    try:
        check_size(con, path)
        check_version(con, path, read_only=read_only)
        if not read_only:
            migrate(con)
    except BaseException as exc:
        con.close()
        err = open_error(path, exc) if isinstance(exc, duckdb.Error) else None
        if err is None:
            raise
        raise err from None
    return con


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    if str(path) != ":memory:":
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # made by a connection of its own: a setting on the one returned would stop anyone
            # else in this process opening the file with plain duckdb.connect ("different
            # configuration")
            duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION}).close()
    return duckdb.connect(str(path), read_only=read_only)


# how long a reader waits for a just-started server's first snapshot
SNAPSHOT_WAIT_SECONDS = 60.0


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _held_by_server(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection | None:
    """The store is locked. By an advertised `revline serve`: a reader gets the server's read
    snapshot (revline.store.snapshot), a writer a StoreLockedError saying what to do. By anything
    else: None (errors.open_error names the process)."""
    advert = read_advert(path)
    if advert is None:
        return None
    if not read_only:
        raise StoreLockedError(
            f"store {path} is held by `revline serve` at {advert.url} (pid {advert.pid}); revline ingest, stitch, "
            "attribute, report, paths export and mmm fit send their work to it, other writes need it stopped"
        )
    snap = snapshot_path(path)
    deadline = time.monotonic() + SNAPSHOT_WAIT_SECONDS
    while not snap.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if not snap.exists():
        raise StoreLockedError(f"store {path} is held by `revline serve` at {advert.url}, whose read snapshot "
                               f"{snap} is not written yet; retry in a minute")
    return duckdb.connect(str(snap), read_only=True)


def ibis_backend(con: duckdb.DuckDBPyConnection):
    """An Ibis DuckDB backend sharing the same connection (no second file handle)."""
    import ibis

    return ibis.duckdb.from_connection(con)


def compiled_sql(backend: Any, expr: Any) -> str:
    """`expr` compiled for `backend`, its in-memory tables (ibis.memtable) registered first, as
    the backend's own execute does (ibis-framework is pinned, constraints.txt): SQL run by hand
    (the ledger's writer, store.engine) may then read a small table the driver made."""
    backend._run_pre_execute_hooks(expr)
    return str(backend.compile(expr))

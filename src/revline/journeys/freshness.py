"""Stitch when the store changed: one function for the CLI and for server jobs.

Why here (journeys, above identity): a stitch is only complete once journeys and milestones are
rebuilt from it, and `attribute`, `paths` and `report` read both. `restitch` is that complete
step and records it (store/state.py); `ensure_stitched` runs it only when the store changed
since; `fresh_connection` does the same for commands that read through a read-only connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from revline.identity import StitchReport, stitch
from revline.journeys.build import build
from revline.store import connect
from revline.store.state import Staleness, record_stitch, staleness


class StaleStoreError(RuntimeError):
    """The store changed since the last stitch and the caller chose not to stitch (`--no-stitch`)."""


@dataclass(frozen=True)
class Restitched:
    """What `restitch` did: the stitch report and the milestone counts of the journey build."""

    stitch: StitchReport
    milestones: dict[tuple[str, str], int]
    reasons: tuple[str, ...] = ()


def restitch(con: duckdb.DuckDBPyConnection, *, free_mail: Iterable[str] = (),
             reasons: tuple[str, ...] = ()) -> Restitched:
    """Stitch identities, rebuild journeys and milestones, and record that the store is stitched.
    The record comes last: a crash before it leaves the store marked stale (stitched again next time)."""
    report = stitch(con, free_mail=free_mail)
    counts = build(con)
    record_stitch(con)
    return Restitched(report, counts, reasons)


def stitch_command(db: Path | str | None) -> str:
    """The command line a user runs to stitch this store."""
    return "revline stitch" + (f" --db {db}" if db else "")


def ensure_stitched(con: duckdb.DuckDBPyConnection, *, allow: bool = True, db: Path | str | None = None,
                    on_stitch: Callable[[Staleness], None] | None = None) -> Restitched | None:
    """Stitch first when touchpoints, identities or CRM records changed since the last stitch.

    Returns what the stitch did, or None when the store was fresh. With `allow=False` a stale
    store raises StaleStoreError naming the command to run. `on_stitch(reasons)` is called just
    before stitching (a CLI prints a line, a job logs)."""
    state = staleness(con)
    if not state.stale:
        return None
    if not allow:
        raise StaleStoreError(f"the store changed since the last stitch ({state}); run `{stitch_command(db)}` first")
    if on_stitch:
        on_stitch(state)
    return restitch(con, reasons=state.reasons)


def fresh_connection(db: Path | str | None, *, read_only: bool, allow: bool = True,
                     on_stitch: Callable[[Staleness], None] | None = None) -> duckdb.DuckDBPyConnection:
    """Open the store (see `revline.store.connect`), stitching first when it is stale.

    A read-only caller gets its read-only connection after the stitch ran on a short-lived
    writable one; nothing is opened for writing when the store is fresh."""
    con = connect(db, read_only=read_only)
    if not read_only:
        try:
            ensure_stitched(con, allow=allow, db=db, on_stitch=on_stitch)
        except BaseException:
            con.close()
            raise
        return con
    try:
        state = staleness(con)
    except duckdb.CatalogException:  # a store older than the state table: treat as never stitched
        state = Staleness(("the store was never stitched",))
    if not state.stale:
        return con
    con.close()
    if not allow:
        raise StaleStoreError(f"the store changed since the last stitch ({state}); run `{stitch_command(db)}` first")
    rw = connect(db)
    try:
        ensure_stitched(rw, allow=True, db=db, on_stitch=on_stitch)
    finally:
        rw.close()
    return connect(db, read_only=True)

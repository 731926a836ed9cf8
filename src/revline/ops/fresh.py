"""Stitch-if-stale for operations (revline.journeys.freshness), with the CLI's wording.

Why a helper: attribute, report and paths export all stitch a store that changed since its last
stitch (or refuse with --no-stitch), and their result says whether they did, so the CLI can print
the same notice whether the operation ran here or as a server job.
"""

from __future__ import annotations

import duckdb

from revline.journeys.freshness import StaleStoreError, ensure_stitched


def stitch_if_stale(con: duckdb.DuckDBPyConnection, *, no_stitch: bool, db: str | None) -> str | None:
    """Stitch when stale; returns the staleness text when it stitched, None when the store was
    fresh. With `no_stitch` a stale store is a ValueError naming the command to run."""
    notices: list[str] = []
    try:
        ensure_stitched(con, allow=not no_stitch, db=db, on_stitch=lambda state: notices.append(str(state)))
    except StaleStoreError as exc:
        raise ValueError(str(exc) + ", or drop --no-stitch") from None
    except duckdb.CatalogException:  # a store older than the state table: nothing to compare
        return None
    return notices[0] if notices else None

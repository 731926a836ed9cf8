"""Operations `export` and `import`: the store as a folder of Parquet files and a manifest, and back
(revline.store.exchange), so a user moves between engines in two commands."""

from __future__ import annotations

from pathlib import Path

import duckdb

from revline.ops.registry import Progress, no_progress
from revline.store.exchange import export_store, import_store


def export(con: duckdb.DuckDBPyConnection, *, to: str, progress: Progress = no_progress) -> dict:
    """Write the store's tables as Parquet under `to` (a new or empty folder); returns the manifest."""
    from revline import __version__

    progress(None, None, f"Exporting the store to {to}")
    return export_store(con, Path(to), revline_version=__version__)


def import_(con: duckdb.DuckDBPyConnection, *, path: str, replace: bool = False,
            progress: Progress = no_progress) -> dict:
    """Load a folder `export` wrote into the store, verified table by table; returns rows per table."""
    progress(None, None, f"Importing {path}")
    return {"tables": import_store(con, Path(path), replace=replace)}

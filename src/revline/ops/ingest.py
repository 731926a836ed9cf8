"""Operation `ingest`: load export files into the store in one transaction."""

from __future__ import annotations

from pathlib import Path

import duckdb

from revline.ingest import load_files
from revline.ingest.report import IngestReport
from revline.ingest.revenue_types import parse_type_map
from revline.ops.registry import Progress, no_progress


def ingest(
    con: duckdb.DuckDBPyConnection,
    *,
    paths: list[str],
    fmt: str = "auto",
    channel_rules: str | None = None,
    type_map: str | list[str] | None = None,
    force: bool = False,
    decimal: str | None = None,
    date_order: str | None = None,
    obj: str | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
    dimensions: list[str] | None = None,
    progress: Progress = no_progress,
) -> IngestReport:
    """`revline.ingest.load_files` with the file names as progress labels. `type_map`: files
    and/or `raw=type` pairs (revenue_types.parse_type_map)."""

    def step(done: int, total: int, path: Path) -> None:
        progress(done, total, Path(path).name)

    return load_files(con, [Path(p) for p in paths], fmt=fmt,
                      channel_rules=Path(channel_rules) if channel_rules else None,
                      type_map=parse_type_map([type_map] if isinstance(type_map, str) else type_map) if type_map else None,
                      progress=step, force=force,
                      decimal=decimal, date_order=date_order, obj=obj, sheet=sheet,
                      encoding=encoding, dimensions=dimensions)

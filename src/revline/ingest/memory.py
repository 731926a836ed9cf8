"""A memory cap for the duration of an ingest, so big batches spill to disk instead of growing.

Why: DuckDB's default limit is 80% of RAM, and staging a large Segment batch (typed rows plus the
touchpoints derived from them) would happily use that much; with a cap its temp tables and hash
tables spill to the database's temp directory. The cap is only ever lowered, and the previous
value is restored afterwards (the setting is global to the database instance).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from revline.store.rows import scalar
from revline.store.sql import lit

DEFAULT_LIMIT = "1200MiB"  # with the Python side (Arrow chunks, libraries) the large demo peaks at 1.8 GB
_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def size_bytes(text: str) -> int:
    """'18.6 GiB', '1536MiB', '2GB', '0 bytes' -> bytes."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError(f"not a memory size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


@contextmanager
def capped_memory(con: duckdb.DuckDBPyConnection, limit: str | None = None) -> Iterator[None]:
    """Lower `memory_limit` to `limit` (default $REVLINE_INGEST_MEMORY_LIMIT or 1200MiB) if it is
    higher, and put it back on exit."""
    limit = limit or os.environ.get("REVLINE_INGEST_MEMORY_LIMIT") or DEFAULT_LIMIT
    current = _get(con)
    if size_bytes(current) <= size_bytes(limit):
        yield
        return
    # restore the default with RESET: re-setting its rounded display text would drift down
    con.execute("RESET memory_limit")
    was_default = _get(con) == current
    con.execute(f"SET memory_limit = {lit(f'{size_bytes(limit)}B')}")
    try:
        yield
    finally:
        con.execute("RESET memory_limit" if was_default else f"SET memory_limit = {lit(current)}")


def _get(con: duckdb.DuckDBPyConnection) -> str:
    return scalar(con, "SELECT current_setting('memory_limit')")

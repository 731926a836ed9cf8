"""A DuckDB setting changed for the length of a `with` block, then put back.

Why a helper: the ingest path runs with settings a user's session may not have (UTC time zone,
unordered inserts) and must hand the connection back as it found it, whatever fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from revline.store.rows import scalar
from revline.store.sql import lit, setting_name


@contextmanager
def setting(con: duckdb.DuckDBPyConnection, name: str, value: object) -> Iterator[None]:
    """`SET name = value` for the block; the value it had before comes back on exit."""
    name = setting_name(name)
    old = scalar(con, "SELECT current_setting(?)", [name])
    con.execute(f"SET {name} = {lit(value)}")
    try:
        yield
    finally:
        con.execute(f"SET {name} = {lit(old)}")

"""Report dimensions promoted from source columns (owner, product, region...): how to read them.

Why one small function: ingest stores the promoted values of a row in its `dimensions` JSON
column (accounts, people, opportunities; schema version 11), and every reader that groups by
one (reports, the API, the funnel) must extract it the same way. `dimension_sql` is that one
way; `available_dimensions` says which names a table holds.
"""

from __future__ import annotations

import re

import duckdb

DIMENSION_TABLES: dict[str, str] = {"opportunity": "opportunities", "person": "people", "account": "accounts"}
"""The objects that carry promoted dimensions, and their tables."""
DEFAULT_DIMENSIONS: tuple[str, ...] = ("owner", "product")
"""Promoted by default when a file has a column for them (see revline.ingest.extras)."""
NO_VALUE = "(none)"
"""The group of rows without a value for a dimension: shown, never dropped."""

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


def check_name(name: str) -> str:
    """A dimension name: lower-case letters, digits and underscores (it becomes a JSON key and a
    report column), or ValueError naming the rule."""
    if not _NAME.fullmatch(name or ""):
        raise ValueError(f"dimension name {name!r}: use lower-case letters, digits and _ (e.g. owner, region)")
    return name


def dimension_sql(name: str, alias: str = "o", *, label_missing: bool = False) -> str:
    """SQL text of dimension `name` of the row `alias` (a table alias of accounts, people or
    opportunities): NULL when the row has none, or '(none)' with `label_missing`. The name is
    checked (never user text in SQL); `alias` is the caller's own identifier."""
    expr = f"json_extract_string({alias}.dimensions, '$.{check_name(name)}')"
    return f"coalesce({expr}, '{NO_VALUE}')" if label_missing else expr


def available_dimensions(con: duckdb.DuckDBPyConnection, obj: str = "opportunity") -> list[str]:
    """The dimension names rows of `obj` ('opportunity', 'person', 'account') hold, sorted."""
    table = DIMENSION_TABLES[obj]
    rows = con.execute(
        f"SELECT DISTINCT unnest(json_keys(dimensions)) FROM {table} WHERE dimensions IS NOT NULL"  # noqa: S608 - table from DIMENSION_TABLES
    ).fetchall()
    return sorted(r[0] for r in rows)

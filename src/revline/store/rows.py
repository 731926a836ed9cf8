"""The row of a query that always returns exactly one: an aggregate without GROUP BY, a count.

Why a helper: DuckDB's `fetchone()` is typed `tuple | None`, and unpacking it straight away
(`n, total = con.execute(...).fetchone()`) hides the None case from the reader and the type
checker. Such queries cannot return no row; if one ever does, the error names the query
instead of failing later with "cannot unpack NoneType".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


def one_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
) -> tuple[Any, ...]:
    """The single row of `sql` (run with bound `params`); RuntimeError if it returned none."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise RuntimeError(f"query returned no row, expected one: {' '.join(sql.split())[:120]}")
    return row


def scalar(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
) -> Any:
    """The first value of `one_row`."""
    return one_row(con, sql, params)[0]

"""Running a portable (Ibis) transform on the DuckDB store with its SQL compiled once per shape.

Why: on a demo-sized store, building an Ibis expression and compiling it to SQL cost more than
running the query, and the dashboard, API and CLI ask for the same few ROI tables and funnels on
every view. The SQL of a transform depends only on its parameters, the columns of the tables it
reads and, for some, a few rows that shape it (which attribution runs exist; whether fx rates
do), so it is compiled once per such key and kept: the SQL text and the result schema, never a
connection (a closed or another store's connection is never reused). Later calls only execute
the text. Parameter values enter the SQL as Ibis-quoted literals, as they did uncached; the
result goes through Ibis's own conversion to pandas with the kept schema (as its DuckDB
backend's `execute` does), so frames are the same as `expr.to_pandas()` gives.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import duckdb
import pandas as pd

from revline.store.connection import ibis_backend
from revline.store.portable import tables_read

MAX_ENTRIES = 256
_CACHE: OrderedDict[Hashable, tuple[str, Any]] = OrderedDict()
_LOCK = threading.Lock()


def run_compiled(
    con: duckdb.DuckDBPyConnection,
    transform: Callable[..., Any],
    key: Hashable,
    build: Callable[[Any], Any],
    shape_sql: Sequence[str] = (),
) -> pd.DataFrame:
    """`build(ibis_backend(con)).to_pandas()`, with the compiled SQL kept per (transform, `key`,
    the columns of the tables `transform` declares with `@reads`, the rows of each fixed query
    in `shape_sql`). `key` must hold every parameter `build` uses (normalised: checked values);
    `shape_sql` the queries whose rows the transform reads while building (e.g. its run
    selection), so a new run or rate compiles anew."""
    tables = sorted(tables_read(transform))
    columns = con.execute(
        "SELECT database_name, schema_name, table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE list_contains(?, table_name) ORDER BY ALL", [tables]).fetchall()
    shape = tuple(tuple(con.execute(q).fetchall()) for q in shape_sql)
    full = (f"{transform.__module__}.{transform.__qualname__}", key, tuple(columns), shape)
    be = ibis_backend(con)  # also sets the session as Ibis runs its queries (UTC time zone)
    with _LOCK:
        hit = _CACHE.get(full)
        if hit is not None:
            _CACHE.move_to_end(full)
    if hit is None:
        expr = build(be)
        hit = (str(be.compile(expr)), expr.schema())
        with _LOCK:
            _CACHE[full] = hit
            while len(_CACHE) > MAX_ENTRIES:
                _CACHE.popitem(last=False)
    sql, schema = hit
    return _to_pandas(con.sql(sql).to_arrow_table(), schema)


def _to_pandas(table: Any, schema: Any) -> pd.DataFrame:
    """An Arrow result as Ibis's DuckDB backend turns it into pandas (`Backend.execute`): nested,
    dictionary and gappy columns through Python objects, the rest through Arrow, then Ibis's
    conversion to `schema`. Why not `be.sql(text).to_pandas()`: Ibis parses the text again."""
    import pyarrow.types as pat
    from ibis.backends.duckdb.converter import DuckDBPandasData

    df = pd.DataFrame({
        name: col.to_pylist() if pat.is_nested(col.type) or pat.is_dictionary(col.type) or col.null_count
        else col.to_pandas()
        for name, col in zip(table.column_names, table.columns)})
    return DuckDBPandasData.convert_table(df, schema)


def clear() -> None:
    """Forget every compiled transform (tests and benchmarks measure the cold path with it)."""
    with _LOCK:
        _CACHE.clear()


__all__ = ["MAX_ENTRIES", "clear", "run_compiled"]

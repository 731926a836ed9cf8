"""Operations `fx_load` and `fx_list`: dated conversion rates in, and what the store holds."""

from __future__ import annotations

from pathlib import Path

import duckdb

from revline.ops.registry import Progress, no_progress
from revline.store import fx


def fx_load(con: duckdb.DuckDBPyConnection, *, path: str, progress: Progress = no_progress) -> dict:
    """Load a date,currency,rate file (USD per unit); returns rows read and written, and the coverage."""
    read, written = fx.load_rates(con, Path(path))
    return {"read": read, "written": written, "rates": fx_list(con)["rates"], "warnings": fx.suspicious_rates(con)}


def fx_list(con: duckdb.DuckDBPyConnection, *, progress: Progress = no_progress) -> dict:
    """Per currency: its dated rates' first and last date and count; the fixed defaults apply outside them."""
    rows = fx.rates_table(con) if fx.has_rates(con) else []
    return {"reporting_currency": fx.REPORTING_CURRENCY,
            "rates": [{"currency": c, "first": str(a), "last": str(b), "rates": int(n)} for c, a, b, n in rows]}

"""CLI options every command shares, declared once (the `--db` flag was declared in six files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", help="Store file (default ./revline.duckdb, or $REVLINE_DB).", envvar="REVLINE_DB"),
]
"""`--db`: the store file; $REVLINE_DB, else ./revline.duckdb (store.resolve_db_path)."""

__all__ = ["DbOption"]

"""CLI commands that move a store between engines: `revline export --to PATH`, `revline import PATH`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from revline.commands.options import DbOption

# The layers below are imported inside each command, for start-up time: see revline/commands/__init__.py.


def register(app: typer.Typer) -> None:
    """Add `export` and `import` to the main app."""

    @app.command()
    def export(
        to: Annotated[Path, typer.Option("--to", help="A new (or empty) folder for the Parquet files and manifest.json.")],
        db: DbOption = None,
    ) -> None:
        """Write the store's tables as Parquet (touchpoints and events partitioned by month) with a
        manifest of the schema version, row counts and checksums, for Spark or another store."""
        from revline.commands._hub import absolute, run_operation
        from revline.store.exchange import ExchangeError

        try:
            manifest = run_operation(db, "export", {"to": absolute(to)}, create=False)
        except (ExchangeError, FileNotFoundError) as exc:
            typer.echo(f"export failed: {exc}", err=True)
            raise typer.Exit(1) from None
        tables = manifest["tables"]
        typer.echo(f"{to}: {len(tables)} tables, {sum(t['rows'] for t in tables.values()):,} rows "
                   f"(schema version {manifest['schema_version']}); read back with `revline import {to}`")

    @app.command("import")
    def import_(
        path: Annotated[Path, typer.Argument(help="A folder `revline export` wrote.", exists=True, file_okay=False)],
        replace: Annotated[bool, typer.Option("--replace", help="Replace the rows of tables the store already fills.")] = False,
        db: DbOption = None,
    ) -> None:
        """Load an exported folder into the store in one transaction, each table's row count and
        checksum verified against the manifest."""
        import_folder(path, replace=replace, db=db)


def import_folder(path: Path, *, replace: bool, db: Path | None) -> None:
    """Run the `import` operation and print what it loaded (also `revline ingest` of an export folder)."""
    from revline.commands._hub import absolute, run_operation
    from revline.store.exchange import ExchangeError

    try:
        out = run_operation(db, "import", {"path": absolute(path), "replace": replace})
    except ExchangeError as exc:
        typer.echo(f"import failed, store unchanged: {exc}", err=True)
        raise typer.Exit(1) from None
    tables = out["tables"]
    typer.echo(f"{path}: {len(tables)} tables, {sum(tables.values()):,} rows imported, each verified against the manifest")

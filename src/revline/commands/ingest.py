"""CLI commands for the ingest area (see revline.cli): `revline ingest`, `revline quarantine`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from revline.commands.options import DbOption
from revline.store.rows import scalar

# The layers below are imported inside each command, for start-up time: see revline/commands/__init__.py.



def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command()
    def ingest(
        paths: Annotated[list[Path], typer.Argument(help="Files or directories of exports.", exists=True)],
        fmt: Annotated[str, typer.Option("--format", help="auto|salesforce|hubspot|segment|spend|targets|lift_tests|revline")] = "auto",
        db: DbOption = None,
        channel_rules: Annotated[Optional[Path], typer.Option("--channel-rules", exists=True, help="TOML/YAML channel rules tried before the defaults.")] = None,
        type_map: Annotated[Optional[list[str]], typer.Option("--type-map", help="Opportunity Type -> revenue_type: raw=type pairs (e.g. existingbusiness=expansion; repeatable, or comma-separated) or a TOML/YAML/JSON file.")] = None,
        force: Annotated[bool, typer.Option("--force", help="Re-read files already ingested (same sha256).")] = False,
        decimal: Annotated[Optional[str], typer.Option("--decimal", help="Decimal separator of every number: ',' or '.' (default: decided per column from its values).")] = None,
        date_order: Annotated[Optional[str], typer.Option("--date-order", help="mdy|dmy|ymd for dates like 3/1/2017 (default: decided per column from its values).")] = None,
        obj: Annotated[Optional[str], typer.Option("--object", help="The CRM object of the files (Opportunity, Account, ..., or HubSpot deals/contacts/companies) whatever their headers say.")] = None,
        sheet: Annotated[Optional[str], typer.Option("--sheet", help="Excel workbooks: only this sheet (default: every sheet).")] = None,
        encoding: Annotated[Optional[str], typer.Option("--encoding", help="Text encoding of the CSV files, e.g. cp1252, latin-1, utf-16 (default: UTF-8, else detected and named in the summary).")] = None,
        dimension: Annotated[Optional[list[str]], typer.Option("--dimension", help="Promote a source column to a report dimension, name=Header (e.g. owner=OwnerId, region=Region); repeatable. owner and product are promoted by default when a file has them.")] = None,
    ) -> None:
        """Load exports into the store in one transaction; prints loaded/quarantined per table."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from revline.commands._hub import absolute, run_operation
        from revline.ingest import DetectionError
        from revline.screen import console as screen_console

        if len(paths) == 1 and (paths[0] / "manifest.json").is_file():  # a `revline export` folder
            from revline.commands.exchange import import_folder

            import_folder(paths[0], replace=False, db=db)
            return
        console = screen_console()
        params = {"paths": [absolute(p) for p in paths], "fmt": fmt, "channel_rules": absolute(channel_rules),
                  "type_map": [str(absolute(Path(m))) if Path(m).is_file() else m for m in type_map or []] or None, "force": force, "decimal": decimal, "date_order": date_order,
                  "obj": obj, "sheet": sheet, "encoding": encoding, "dimensions": dimension or None}
        try:
            with Progress(TextColumn("[bold]ingest[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as bar:
                task = bar.add_task("", total=None)

                def step(done: int | None, total: int | None, label: str) -> None:
                    bar.update(task, completed=done or 0, total=total, description=label)

                report = run_operation(db, "ingest", params, step)  # here, or as a job of a running server
        except (DetectionError, FileNotFoundError, ValueError) as exc:
            # plain echo, not rich: one unwrapped line, and file names are not read as markup
            typer.echo(f"ingest failed, store unchanged: {exc}", err=True)
            raise typer.Exit(1) from None
        console.print(report)
        if report.quarantined:
            console.print(f"[yellow]{report.quarantined:,} rows quarantined[/yellow]: see `revline quarantine`")

    @app.command()
    def quarantine(
        db: DbOption = None,
        source: Annotated[Optional[str], typer.Option("--source", help="Only rows from files whose path contains this.")] = None,
        limit: Annotated[int, typer.Option("--limit", help="At most this many rows.")] = 50,
    ) -> None:
        """List quarantined rows: file, row, field and why."""
        from rich.table import Table

        from revline.screen import console as screen_console, readable
        from revline.store import connect

        con = connect(db, read_only=True)
        where, params = ("WHERE source LIKE ?", [f"%{source}%"]) if source else ("", [])
        total = scalar(con, f"SELECT count(*) FROM quarantine {where}", params)  # noqa: S608 - a fixed WHERE; the source filter is bound
        rows = con.execute(
            f"SELECT source, table_name, row_number, field, reason, raw FROM quarantine {where} "  # noqa: S608 - a fixed WHERE; the source filter and limit are bound
            f"ORDER BY source, row_number LIMIT ?", [*params, limit]
        ).fetchall()
        con.close()
        t = Table(title=f"quarantine ({total:,} rows{', showing ' + str(len(rows)) if total > len(rows) else ''})")
        for col in ("file", "table", "row", "field", "reason", "raw"):
            t.add_column(col, overflow="fold")
        for src, table, row, field, reason, raw in rows:
            t.add_row(src, table or "", str(row), field or "", reason, (raw or "")[:120])
        screen_console().print(readable(t, keys=3))

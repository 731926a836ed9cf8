"""CLI commands for the attribution area: `revline attribute` and `revline report`.

Heavy modules (ibis, pandas) are imported inside the command bodies so `revline --help`
stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from revline.commands.options import CampaignLevelOption, DbOption, SegmentOption, existing_store
from revline.vocabulary import DEFAULT_CAMPAIGN_LEVEL, DEFAULT_REVENUE_TYPE, DEFAULT_SEGMENT

# The layers below are imported inside each command, for start-up time: see revline/commands/__init__.py.



NoStitchOption = Annotated[
    bool,
    typer.Option("--no-stitch", help="Refuse (naming the command to run) instead of stitching a store that changed since its last stitch."),
]


def _stitch_notice(state) -> None:
    from revline.screen import console

    console(stderr=True).print(f"[yellow]the store changed since the last stitch ({state}): stitching first[/yellow]")


def open_fresh(db: Optional[Path], *, read_only: bool, no_stitch: bool, notice=_stitch_notice):
    """The store, stitched first when it changed since the last stitch (or exit 1 with --no-stitch)."""
    from revline.journeys.freshness import StaleStoreError, fresh_connection
    from revline.store import resolve_db_path

    path = existing_store(db) if read_only else resolve_db_path(db)
    try:
        return fresh_connection(db, read_only=read_only, allow=not no_stitch, on_stitch=notice)
    except StaleStoreError as exc:
        _fail(str(exc).replace("`revline stitch`", f"`revline stitch --db {path}`") + ", or drop --no-stitch")


def _fail(msg: str) -> None:
    from revline.screen import console

    console(stderr=True).print(f"[red]error:[/red] {msg}")
    raise typer.Exit(code=1)


def _fmt(v: object) -> str:
    import math

    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:,.2f}" if abs(v) >= 1 or v == 0 else f"{v:.3f}"
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d")
    return "" if v is None else str(v)


def print_frame(df, title: str) -> None:
    """Print a DataFrame as a Rich table (numbers right-aligned), its text columns before the first
    number kept whole and every cell wrapped rather than cut (revline.screen)."""
    import itertools

    from rich.table import Table

    from revline.screen import console, readable

    table = Table(title=title, show_lines=False)
    for col in df.columns:
        numeric = str(df[col].dtype).startswith(("float", "int", "Float", "Int"))
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in df.itertuples(index=False):
        table.add_row(*(_fmt(v) for v in row))
    keys = sum(1 for _ in itertools.takewhile(lambda c: not str(df[c].dtype).startswith(("float", "int", "Float", "Int")), df.columns))
    console().print(readable(table, keys=max(keys, 1)))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command()
    def attribute(
        model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Model (repeatable); default: every model, the rule models then the data-driven ones (markov, shapley).")] = None,
        milestone: Annotated[Optional[list[str]], typer.Option("--milestone", help="lead, mql, sql, opportunity, won (repeatable); default all.")] = None,
        revenue_type: Annotated[Optional[list[str]], typer.Option("--revenue-type", help="new_business, renewal, expansion, all (repeatable); default each plus all.")] = None,
        scope: Annotated[str, typer.Option(help="account, contact_roles or person: whose touches count.")] = "account",
        lookback_days: Annotated[Optional[float], typer.Option(help="Only touches at most this many days before the conversion.")] = None,
        half_life: Annotated[float, typer.Option("--half-life", help="Time-decay half-life in days.")] = 7.0,
        weights: Annotated[Optional[Path], typer.Option("--weights", help="TOML/YAML file of custom position weights (FT, LC, OC, CW, other).")] = None,
        weighted: Annotated[bool, typer.Option("--weighted", help="Pipeline = amount x probability at the opportunity milestone.")] = False,
        rules_only: Annotated[bool, typer.Option("--rules-only", help="Without -m: the rule models only, not markov and shapley (about a third of the time).")] = False,
        no_stitch: NoStitchOption = False,
        db: DbOption = None,
    ) -> None:
        """Run every attribution model (rule-based, then Markov and Shapley) and write the credit ledger (stitching first if the store changed)."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from revline.commands._hub import absolute, run_operation
        from revline.screen import console as screen_console
        from revline.store import resolve_db_path

        if weights is not None and not weights.exists():
            _fail(f"weights file {weights} does not exist")
        from revline.commands.options import on_spark

        if on_spark():
            from revline.commands import on_engine

            on_engine.attribute(db, {"models": model or None, "milestones": milestone or None,
                                     "revenue_types": revenue_type or None, "scope": scope,
                                     "lookback_days": lookback_days, "weighted": weighted, "half_life_days": half_life,
                                     "weights": absolute(weights), "rules_only": rules_only})
            return
        console = screen_console()
        params = {"models": model or None, "milestones": milestone or None, "revenue_types": revenue_type or None,
                  "scope": scope, "lookback_days": lookback_days, "weighted": weighted, "half_life_days": half_life,
                  "weights": absolute(weights), "no_stitch": no_stitch, "rules_only": rules_only, "db": str(resolve_db_path(db))}
        try:
            with Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=console, transient=False,
            ) as bar:
                task = bar.add_task("attributing", total=None)

                def progress(done: int | None, total: int | None, label: str) -> None:
                    bar.update(task, completed=done or 0, total=total, description=label)

                result = run_operation(db, "attribute", params, progress)
        except ValueError as exc:
            _fail(str(exc))
        if result.stitched:
            _stitch_notice(result.stitched)
        summary = result.summary
        print_frame(summary[summary["conversions"] > 0], f"{len(result.run_ids)} attribution runs written")
        for reason in result.empty_notes:
            Console(stderr=True).print(f"[yellow]empty runs:[/yellow] {reason}")

    @app.command()
    def report(
        by: Annotated[str, typer.Option("--by", help="channel, campaign, touch_type, month or touch_position; or a promoted dimension (owner, product, any --dimension of ingest): deals with won revenue, pipeline and win rate.")] = "channel",
        models: Annotated[Optional[list[str]], typer.Option("--models", "--model", "-m", help="Models to show side by side (repeatable).")] = None,
        milestone: Annotated[str, typer.Option(help="lead, mql, sql, opportunity or won.")] = "won",
        revenue_type: Annotated[str, typer.Option("--revenue-type", help="new_business, renewal, expansion or all (the default on every screen).")] = DEFAULT_REVENUE_TYPE,
        roi: Annotated[bool, typer.Option("--roi", help="Show spend, ROAS, ROI, CAC and payback instead (first model).")] = False,
        raw: Annotated[bool, typer.Option("--raw", help="With --roi --by channel: attribution alone, not the unified table (mix model + attribution).")] = False,
        start: Annotated[Optional[str], typer.Option(help="First date (YYYY-MM-DD).")] = None,
        end: Annotated[Optional[str], typer.Option(help="Last date (YYYY-MM-DD).")] = None,
        segment: SegmentOption = DEFAULT_SEGMENT,
        campaign_level: CampaignLevelOption = DEFAULT_CAMPAIGN_LEVEL,
        out: Annotated[Optional[Path], typer.Option("--out", help="Also save the table (.csv, .parquet or .json).")] = None,
        html: Annotated[Optional[Path], typer.Option("--html", help="Write the HTML report of the store (every section and model, as `revline demo` does) to this file instead of printing a table.")] = None,
        no_stitch: NoStitchOption = False,
        db: DbOption = None,
    ) -> None:
        """Print attributed revenue (or ROI) per channel, campaign, touch type or month (or write the HTML report with --html)."""
        from rich.console import Console

        from revline.commands._hub import run_operation
        from revline.commands.options import on_spark
        from revline.reports.tables import write_table

        if on_spark():
            from revline.commands import on_engine

            if not roi or html is not None:
                on_engine.refuse("`revline report` without --roi" if html is None else "`revline report --html`",
                                 "`revline import FOLDER --db store.duckdb`, then report on that store")
            on_engine.report_roi(db, {"by": by, "models": models or None, "milestone": milestone,
                                      "revenue_type": revenue_type, "raw": raw, "start": start, "end": end,
                                      "segment": segment}, out)
            return
        path = existing_store(db)
        if html is not None:
            from revline.commands._hub import absolute

            try:
                written = run_operation(db, "report_html", {"path": absolute(html)})
            except (OSError, ValueError) as exc:
                _fail(f"{html}: the HTML report was not written: {exc}")
            typer.echo(f"HTML report written to {written}")
            return
        params = {"by": by, "models": models or None, "milestone": milestone, "revenue_type": revenue_type,
                  "roi": roi, "raw": raw, "start": start, "end": end, "segment": segment, "campaign_level": campaign_level,
                  "no_stitch": no_stitch, "db": str(path)}
        try:
            result = run_operation(db, "report", params)
        except ValueError as exc:
            _fail(str(exc))
        df, title, why = result.frame, result.title, result.problem
        if result.stitched:
            _stitch_notice(result.stitched)
            if not why:
                Console(stderr=True).print(
                    "[yellow]the ledger was written before this stitch: run `revline attribute` to refresh it[/yellow]")
        if why:
            _fail(why)
        print_frame(df, title)
        for note in getattr(result, "notes", ()):
            typer.echo(note)
        if out is not None:
            try:
                write_table(df, out)
            except ValueError as exc:
                _fail(str(exc))
            typer.echo(f"saved {len(df)} rows to {out}")

"""CLI commands for the attribution area: `revline attribute` and `revline report`.

Heavy modules (ibis, pandas) are imported inside the command bodies so `revline --help`
stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from revline.commands.options import DbOption



NoStitchOption = Annotated[
    bool,
    typer.Option("--no-stitch", help="Refuse (naming the command to run) instead of stitching a store that changed since its last stitch."),
]


def _stitch_notice(state) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[yellow]the store changed since the last stitch ({state}): stitching first[/yellow]")


def open_fresh(db: Optional[Path], *, read_only: bool, no_stitch: bool, notice=_stitch_notice):
    """The store, stitched first when it changed since the last stitch (or exit 1 with --no-stitch)."""
    from revline.journeys.freshness import StaleStoreError, fresh_connection
    from revline.store import resolve_db_path

    path = resolve_db_path(db)
    if read_only and not path.exists():
        _fail(f"{path}: no such store; create it with `revline ingest <exports> --db {path}`")
    try:
        return fresh_connection(db, read_only=read_only, allow=not no_stitch, on_stitch=notice)
    except StaleStoreError as exc:
        _fail(str(exc).replace("`revline stitch`", f"`revline stitch --db {path}`") + ", or drop --no-stitch")


def _fail(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[red]error:[/red] {msg}")
    raise typer.Exit(code=1)


def _fmt(v: object) -> str:
    import math

    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:,.2f}" if abs(v) >= 1 or v == 0 else f"{v:.3f}"
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d")  # type: ignore[union-attr]
    return "" if v is None else str(v)


def print_frame(df, title: str) -> None:
    """Print a DataFrame as a Rich table (numbers right-aligned)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in df.columns:
        numeric = str(df[col].dtype).startswith(("float", "int", "Float", "Int"))
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in df.itertuples(index=False):
        table.add_row(*(_fmt(v) for v in row))
    Console().print(table)


def _report_problem(con, df, roi: bool, models, milestone: str, revenue_type: str) -> str | None:
    """Why the report would be empty or all zeros (and what to run), or None when it has figures."""
    from revline.attribution.diagnose import conversion_problem, touch_problem
    from revline.reports.tables import unattributed

    if roi and not df.empty:
        return None  # spend alone is a figure worth showing
    runs = unattributed(con, milestone, None if milestone in ("lead", "mql", "sql") else revenue_type, models or None)
    if df.empty or runs.empty:
        if con.execute("SELECT count(*) FROM attribution_runs").fetchone()[0] == 0:
            return (touch_problem(con) or "") + ("; then " if touch_problem(con) else "") + \
                "no attribution runs in the store: run `revline attribute`"
        return (conversion_problem(con, milestone, revenue_type)
                or "no ledger rows match; run `revline attribute` for this milestone and revenue type (or widen the filters)")
    if (runs["conversions"] == 0).all():
        return conversion_problem(con, milestone, revenue_type) or "the matching runs hold no conversions; run `revline attribute`"
    if (runs["conversions"] == runs["unattributed"]).all():
        return ("every conversion is unattributed: " + (touch_problem(con) or
                "no touch precedes any conversion within the lookback; check the touch dates or run `revline stitch`")
                + "; then run `revline attribute` again")
    return None


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command()
    def attribute(
        model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Model (repeatable); default: every rule model.")] = None,
        milestone: Annotated[Optional[list[str]], typer.Option("--milestone", help="lead, mql, sql, opportunity, won (repeatable); default all.")] = None,
        revenue_type: Annotated[Optional[list[str]], typer.Option("--revenue-type", help="new_business, renewal, expansion, all (repeatable); default each plus all.")] = None,
        scope: Annotated[str, typer.Option(help="account, contact_roles or person: whose touches count.")] = "account",
        lookback_days: Annotated[Optional[float], typer.Option(help="Only touches at most this many days before the conversion.")] = None,
        half_life: Annotated[float, typer.Option("--half-life", help="Time-decay half-life in days.")] = 7.0,
        weights: Annotated[Optional[Path], typer.Option("--weights", help="TOML/YAML file of custom position weights (FT, LC, OC, CW, other).")] = None,
        weighted: Annotated[bool, typer.Option("--weighted", help="Pipeline = amount x probability at the opportunity milestone.")] = False,
        no_stitch: NoStitchOption = False,
        db: DbOption = None,
    ) -> None:
        """Run rule-based attribution models and write the credit ledger (stitching first if the store changed)."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from revline.attribution import run_models
        from revline.attribution.diagnose import nothing_to_attribute
        from revline.vocabulary import ALL_REVENUE, ATTRIBUTED_REVENUE_TYPES, LEAD_MILESTONES, MILESTONES

        if weights is not None and not weights.exists():
            _fail(f"weights file {weights} does not exist")
        con = open_fresh(db, read_only=False, no_stitch=no_stitch)
        console = Console()
        ms = milestone or list(MILESTONES)
        rts = revenue_type or [*ATTRIBUTED_REVENUE_TYPES, ALL_REVENUE]
        pairs = [(m, None) if m in LEAD_MILESTONES else (m, r) for m in ms for r in ([None] if m in LEAD_MILESTONES else rts)]
        if set(ms) <= set(MILESTONES):
            reason = nothing_to_attribute(con, pairs, scope)
            if reason:
                con.close()
                _fail(f"nothing to attribute, no runs written: {reason}")
        try:
            with Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=console, transient=False,
            ) as bar:
                task = bar.add_task("attributing", total=None)

                def progress(done: int, total: int, label: str) -> None:
                    bar.update(task, completed=done, total=total, description=label)

                run_ids = run_models(
                    con, models=model or None, milestones=milestone or None, revenue_types=revenue_type or None,
                    scope=scope, lookback_days=lookback_days, weighted=weighted, half_life_days=half_life,
                    config=weights, progress=progress,
                )
        except ValueError as exc:
            con.close()
            _fail(str(exc))
        from revline.reports.tables import unattributed

        from revline.attribution.diagnose import conversion_problem

        summary = unattributed(con)
        summary = summary[summary["run_id"].isin(run_ids)].drop(columns=["run_id"])
        empty = summary[summary["conversions"] == 0]
        notes = {
            (m, r): conversion_problem(con, m, None if r is None or r != r else r)
            for m, r in empty[["milestone", "revenue_type"]].drop_duplicates().itertuples(index=False)
        }
        con.close()
        print_frame(summary[summary["conversions"] > 0], f"{len(run_ids)} attribution runs written")
        for reason in dict.fromkeys(n for n in notes.values() if n):
            Console(stderr=True).print(f"[yellow]empty runs:[/yellow] {reason}")

    @app.command()
    def report(
        by: Annotated[str, typer.Option("--by", help="channel, campaign, touch_type, month or touch_position.")] = "channel",
        models: Annotated[Optional[list[str]], typer.Option("--models", "--model", "-m", help="Models to show side by side (repeatable).")] = None,
        milestone: Annotated[str, typer.Option(help="lead, mql, sql, opportunity or won.")] = "won",
        revenue_type: Annotated[str, typer.Option("--revenue-type", help="new_business, renewal, expansion or all.")] = "new_business",
        roi: Annotated[bool, typer.Option("--roi", help="Show spend, ROAS, ROI, CAC and payback instead (first model).")] = False,
        start: Annotated[Optional[str], typer.Option(help="First date (YYYY-MM-DD).")] = None,
        end: Annotated[Optional[str], typer.Option(help="Last date (YYYY-MM-DD).")] = None,
        out: Annotated[Optional[Path], typer.Option("--out", help="Also save the table (.csv, .parquet or .json).")] = None,
        no_stitch: NoStitchOption = False,
        db: DbOption = None,
    ) -> None:
        """Print attributed revenue (or ROI) per channel, campaign, touch type or month."""
        from rich.console import Console

        from revline.reports.roi import roi_table
        from revline.reports.tables import attribution_by, write_table

        stitched: list[object] = []

        def notice(state) -> None:
            stitched.append(state)
            _stitch_notice(state)

        con = open_fresh(db, read_only=True, no_stitch=no_stitch, notice=notice)
        why = None
        try:
            if roi:
                if by not in ("channel", "campaign", "month"):
                    _fail("--roi works --by channel, campaign or month")
                model = (models or ["linear"])[0]
                df = roi_table(con, model, milestone=milestone, revenue_type=revenue_type, by=by, start=start, end=end)  # type: ignore[arg-type]
                title = f"ROI by {by} ({model}, {milestone}, {revenue_type})"
            else:
                df = attribution_by(con, by, models or None, milestone, revenue_type, start, end)  # type: ignore[arg-type]
                title = f"Attribution by {by} at {milestone}" + ("" if milestone in ("lead", "mql", "sql") else f" ({revenue_type})")
            why = _report_problem(con, df, roi, models, milestone, revenue_type)
            if stitched and not why:
                Console(stderr=True).print(
                    "[yellow]the ledger was written before this stitch: run `revline attribute` to refresh it[/yellow]")
        except ValueError as exc:
            _fail(str(exc))
        finally:
            con.close()
        if why:
            _fail(why)
        print_frame(df, title)
        if out is not None:
            try:
                write_table(df, out)
            except ValueError as exc:
                _fail(str(exc))
            typer.echo(f"saved {len(df)} rows to {out}")

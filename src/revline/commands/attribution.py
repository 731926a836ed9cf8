"""CLI commands for the attribution area: `revline attribute` and `revline report`.

Heavy modules (ibis, pandas) are imported inside the command bodies so `revline --help`
stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", help="Store file (default ./revline.duckdb, or $REVLINE_DB).", envvar="REVLINE_DB"),
]


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
        db: DbOption = None,
    ) -> None:
        """Run rule-based attribution models and write the credit ledger."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from revline.attribution import run_models
        from revline.store import connect

        if weights is not None and not weights.exists():
            _fail(f"weights file {weights} does not exist")
        con = connect(db)
        console = Console()
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

        summary = unattributed(con)
        summary = summary[summary["run_id"].isin(run_ids)].drop(columns=["run_id"])
        con.close()
        print_frame(summary, f"{len(run_ids)} attribution runs written")

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
        db: DbOption = None,
    ) -> None:
        """Print attributed revenue (or ROI) per channel, campaign, touch type or month."""
        from revline.reports.roi import roi_table
        from revline.reports.tables import attribution_by, write_table
        from revline.store import connect

        con = connect(db, read_only=True)
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
        except ValueError as exc:
            _fail(str(exc))
        finally:
            con.close()
        if df.empty:
            _fail("no ledger rows match; run `revline attribute` first (or widen the filters)")
        print_frame(df, title)
        if out is not None:
            try:
                write_table(df, out)
            except ValueError as exc:
                _fail(str(exc))
            typer.echo(f"saved {len(df)} rows to {out}")

"""`revline --engine spark ...`: the batch commands on Spark over an export folder (ops.engine_flow).

Why apart from each command's DuckDB body: the DuckDB commands go through the server hub
(`run_operation`) and print the store's own summaries; on Spark there is no server and no store
file, so these open the engine, run the operation and print what it did. A command or option
that cannot run on Spark yet says so in one line and exits 1 (`refuse`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer


def refuse(what: str, instead: str) -> NoReturn:
    """One line: `what` does not run on Spark yet, and what to do instead; exit 1."""
    typer.echo(f"revline: {what} runs on DuckDB only so far; {instead}", err=True)
    raise typer.Exit(1)


def _fail(exc: BaseException) -> NoReturn:
    typer.echo(f"revline: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True)
    raise typer.Exit(1)


@contextmanager
def spark_engine(db: Path | None) -> Iterator[Any]:
    """The Spark engine over the folder `db` for the length of a command; a folder that is not an
    export, a Spark that will not start or a refused operation is one line and exit 1."""
    import warnings

    from revline.commands.options import engine_config
    from revline.store.engine import EngineError, open_engine

    warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")  # pandas 3 notices, every query
    try:
        engine = open_engine(engine_config(), db)
    except EngineError as exc:
        _fail(exc)
    try:
        yield engine
    except (EngineError, ValueError) as exc:
        _fail(exc)
    finally:
        engine.close()


def _progress(console: Any) -> Callable[[int | None, int | None, str], None]:
    return lambda done, total, label: console.print(f"[dim]{label}[/dim]")


def stitch(db: Path | None, free_mail: list[str] | None = None) -> None:
    """`revline --engine spark stitch`: identities stitched on Spark when the folder changed since
    its last stitch (or --free-mail is given), then journeys and milestones rebuilt there."""
    import time


    from revline.commands.journeys import milestones_table, stitch_table
    from revline.ops import engine_flow
    from revline.screen import console as screen_console, readable

    console = screen_console()
    started = time.perf_counter()
    with spark_engine(db) as engine:
        result = engine_flow.stitch(engine, free_mail=free_mail, progress=_progress(console))
    if result.report is not None:
        console.print(f"Stitched on Spark {engine.folder}", soft_wrap=True, highlight=False)
        console.print(readable(stitch_table(result.report, "Identity stitch")))
    console.print(readable(milestones_table(result.milestones, f"Milestones (Spark, {engine.folder})"), keys=2))
    took = time.perf_counter() - started
    if result.report is None:
        console.print("identities current (unchanged since the folder's last stitch); journeys and milestones "
                      f"rebuilt on Spark in {took:.1f}s")
    else:
        console.print(f"identities stitched ({'; '.join(result.reasons) or 'with --free-mail'}) and journeys and "
                      f"milestones rebuilt on Spark in {took:.1f}s")


def attribute(db: Path | None, params: dict[str, Any]) -> None:
    """`revline --engine spark attribute`: the rule models' credit ledger written on Spark."""
    import time

    import pandas as pd

    from revline.commands.attribution import print_frame
    from revline.ops import engine_flow
    from revline.screen import console as screen_console

    console = screen_console()
    started = time.perf_counter()
    with spark_engine(db) as engine:
        result = engine_flow.attribute(engine, progress=_progress(console), **params)
    frame = pd.DataFrame([{"model": r.model, "milestone": r.milestone, "revenue_type": r.revenue_type or "",
                           "conversions": r.conversions, "unattributed": r.unattributed} for r in result.runs])
    print_frame(frame, f"{len(result.runs)} attribution runs written on Spark ({time.perf_counter() - started:.1f}s)")


def report_roi(db: Path | None, params: dict[str, Any], out: Path | None) -> None:
    """`revline --engine spark report --roi`: the ROI table from sums computed on Spark."""
    from revline.commands.attribution import print_frame
    from revline.ops import engine_flow
    from revline.reports.tables import write_table

    with spark_engine(db) as engine:
        result = engine_flow.roi(engine, **params)
    print_frame(result.frame, result.title)
    if out is not None:
        try:
            write_table(result.frame, out)
        except ValueError as exc:
            _fail(exc)
        typer.echo(f"saved {len(result.frame)} rows to {out}")


def account_funnel(db: Path | None, params: dict[str, Any], out: Path | None) -> None:
    """`revline --engine spark funnel --level account --section stages`: the same table as on a
    store, its counts, days in stage and out-of-order records computed on Spark
    (`journeys.funnel.funnel_expr`)."""
    from revline.commands.funnel import render
    from revline.ops import engine_flow
    from revline.reports.tables import write_table

    try:
        with spark_engine(db) as engine:
            report = engine_flow.account_funnel(engine, **params)
    except ValueError as exc:
        _fail(exc)
    render(report, ("stages",))
    typer.echo(f"(computed on Spark over {engine.folder})")
    if out is not None:
        try:
            write_table(report.stages, out)
        except ValueError as exc:
            _fail(exc)
        typer.echo(f"saved {len(report.stages)} rows to {out}")

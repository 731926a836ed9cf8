"""CLI command `revline funnel`: the funnel at a level, its win rate, leakage and coverage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from revline.commands.attribution import NoStitchOption
from revline.commands.options import DbOption, existing_store
from revline.vocabulary import FUNNEL_REVENUE_TYPE
from revline.vocabulary import REVENUE_TYPES as FUNNEL_TYPES

# The layers below are imported inside the command, for start-up time: see revline/commands/__init__.py.

SECTIONS = ("stages", "win-rate", "leakage", "coverage")


def _pct(value) -> str:
    import math

    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f} %"


def _days(value) -> str:
    import math

    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.1f}"


def _money(value) -> str:
    return f"{value:,.0f}"


def _fail(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[red]{msg}[/red]")
    raise typer.Exit(code=1)


def render(report, sections: tuple[str, ...] = SECTIONS) -> None:
    """Print a `FunnelReport` as Rich tables (the CLI's view; the API sends the same frames)."""
    from rich.table import Table

    from revline.screen import console as screen_console
    from revline.screen import readable

    console = screen_console()
    d = report.definition
    split = d.by is not None
    if "stages" in sections:
        t = Table(title=f"Funnel: {d.describe()}")
        for col in (["key"] if split else []) + ["stage", "count", "skipped", "conversion (95 % CI)",
                                                  "days in stage (p25-p75)", "out of order"]:
            t.add_column(col, justify="left" if col in ("key", "stage") else "right")
        for r in report.stages.itertuples(index=False):
            row = [r.key] if split else []
            conv = "-" if r.conversion_low != r.conversion_low else (
                f"{_pct(r.conversion_to_next)} ({100 * r.conversion_low:.1f}-{100 * r.conversion_high:.1f})")
            days = "-" if r.days_n == 0 else f"{_days(r.days_median)} ({_days(r.days_p25)}-{_days(r.days_p75)})"
            t.add_row(*row, r.stage, f"{r.count:,}", f"{r.count - r.recorded:,}", conv, days, f"{r.out_of_order:,}")
        console.print(readable(t, keys=2 if split else 1))
    if "win-rate" in sections:
        t = Table(title=f"Win rate = won / closed: {d.describe()}")
        for col in (["key"] if split else []) + ["deals", "won", "lost", "open", "win rate (95 % CI)",
                                                  "won (USD)" if d.level == "opportunity" else ""]:
            if col:
                t.add_column(col, justify="left" if col == "key" else "right")
        for r in report.win_rate.itertuples(index=False):
            rate = "-" if r.closed == 0 else (
                f"{_pct(r.win_rate)} ({100 * r.win_rate_low:.1f}-{100 * r.win_rate_high:.1f})")
            cells = ([r.key] if split else []) + [f"{r.deals:,}", f"{r.won:,}", f"{r.lost:,}", f"{r.open:,}", rate]
            if d.level == "opportunity":
                cells.append(_money(r.won_amount_usd))
            t.add_row(*cells)
        console.print(readable(t, keys=1))
    if "leakage" in sections:
        as_of = report.leakage.attrs.get("as_of", "")
        t = Table(title=f"Leakage as of {str(as_of)[:10]}: stalled = open longer than the stage's p90; "
                        f"died = lost from the stage")
        for col in (["key"] if split else []) + ["stage", "reached", "open", "stalled", "stalled share", "p90 days",
                                                  "died", "died share"]:
            t.add_column(col, justify="left" if col in ("key", "stage") else "right")
        for r in report.leakage.itertuples(index=False):
            if split and r.key == "all":
                continue
            t.add_row(*([r.key] if split else []), r.stage, f"{r.reached:,}", f"{r.open:,}", f"{r.stalled:,}",
                      _pct(r.stalled_share), _days(r.p90_days), f"{r.died:,}", _pct(r.died_share))
        console.print(readable(t, keys=2 if split else 1))
    if "coverage" in sections and len(report.coverage):
        whose = "company target" if d.segment == "all" else f"region {d.segment}'s target and its accounts' deals"
        t = Table(title=f"Pipeline coverage = open pipeline / remaining target ({whose}, every revenue "
                        "type, USD; past periods measured at their start)")
        for col in ("period", "measured at", "target", "won to date", "remaining", "open pipeline", "open deals",
                    "coverage"):
            t.add_column(col, justify="left" if col in ("period", "measured at") else "right")
        for r in report.coverage.itertuples(index=False):
            t.add_row(f"{r.period_start} .. {r.period_end}", str(r.measured_at)[:10], _money(r.revenue_target),
                      _money(r.won_to_date), _money(r.remaining_target), _money(r.open_pipeline), f"{r.open_deals:,}",
                      "-" if r.coverage != r.coverage else f"{r.coverage:.2f}x")
        console.print(readable(t, keys=1))


def _not_on_spark(level: str, by: str | None, segment: str | None, as_of: str | None,
                  section: list[str] | None) -> str | None:
    """The first option asking for more than Spark runs (the account funnel's stages: the
    portable `journeys.funnel.funnel_expr`); None when all of it runs there. The other levels and
    sections build per-unit tables with DuckDB SQL (models/funnel), not portable yet."""
    extra = [s for s in section or [] if s != "stages"]
    for flag, value in (("--level", None if level == "account" else level), ("--section", extra[0] if extra else None),
                        ("--by", by), ("--segment", segment), ("--as-of", as_of)):
        if value:
            return f"{flag} {value}"
    return None


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command()
    def funnel(
        level: Annotated[str, typer.Option("--level", help="lead (people), opportunity (deals) or account.")] = "lead",
        by: Annotated[Optional[str], typer.Option(
            "--by", help="Split: channel, source, revenue_type, segment (= industry), industry, size_band, region, "
                         "cohort, owner, product or another promoted dimension.")] = None,
        revenue_type: Annotated[str, typer.Option(
            "--revenue-type", help="new_business (every funnel's default), renewal, expansion, contraction, "
                                   "or all (not on Spark).")] = FUNNEL_REVENUE_TYPE,
        start: Annotated[Optional[str], typer.Option(help="Cohort: units entering the funnel on or after (YYYY-MM-DD).")] = None,
        end: Annotated[Optional[str], typer.Option(help="Cohort: units entering the funnel on or before (YYYY-MM-DD).")] = None,
        segment: Annotated[Optional[str], typer.Option(
            "--segment", help="Only units whose account is in this region: NA, EMEA, APAC, LATAM, other, unknown.")] = None,
        as_of: Annotated[Optional[str], typer.Option("--as-of", help="Leakage and coverage measured at (default: the latest date in the store).")] = None,
        section: Annotated[Optional[list[str]], typer.Option(
            "--section", help="stages, win-rate, leakage or coverage (repeatable; default all).")] = None,
        out: Annotated[Optional[Path], typer.Option("--out", help="Also save the stage table (.csv, .parquet or .json).")] = None,
        no_stitch: NoStitchOption = False,
        db: DbOption = None,
    ) -> None:
        """Print the funnel at a level: counts, conversion with 95 % intervals, time in stage, win rate, leakage, coverage."""
        from revline.commands._hub import run_operation
        from revline.commands.attribution import _stitch_notice
        from revline.commands.options import on_spark
        from revline.reports.tables import write_table

        if on_spark():
            from revline.commands import on_engine

            if level == "account" and revenue_type not in FUNNEL_TYPES:  # the stage funnel is one type's road
                on_engine.refuse(f"`revline funnel --revenue-type {revenue_type}` (the account stage funnel is per "
                                 "revenue type)", "add `--revenue-type new_business` (or renewal, expansion)")
            asked = _not_on_spark(level, by, segment, as_of, section)
            if asked:
                on_engine.refuse(f"`revline funnel {asked}`", "on Spark runs `funnel --level account --section stages` "
                                 f"(one of {', '.join(FUNNEL_TYPES)}, --start/--end); for the rest "
                                 "`revline import FOLDER --db store.duckdb`, then run it on that store")
            on_engine.account_funnel(db, {"start": start, "end": end, "revenue_type": revenue_type}, out)
            return
        path = existing_store(db)
        chosen = tuple(section or SECTIONS)
        unknown = [s for s in chosen if s not in SECTIONS]
        if unknown:
            _fail(f"--section {unknown[0]!r}: choose from {', '.join(SECTIONS)}")
        params = {"level": level, "by": by, "revenue_type": revenue_type, "start": start, "end": end,
                  "as_of": as_of, "segment": segment, "no_stitch": no_stitch, "db": str(path)}
        try:
            result = run_operation(db, "funnel", params)
        except ValueError as exc:
            _fail(str(exc))
        if result.stitched:
            _stitch_notice(result.stitched)
        report = result.report
        if report.stages.empty or int(report.stages["count"].max()) == 0:
            _fail(f"{path}: no {level}s with a funnel stage; load CRM exports (`revline ingest`) and run `revline stitch`")
        render(report, chosen)
        if out is not None:
            try:
                write_table(report.stages, out)
            except ValueError as exc:
                _fail(str(exc))
            typer.echo(f"saved {len(report.stages)} rows to {out}")

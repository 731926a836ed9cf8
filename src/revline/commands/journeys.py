"""CLI commands for the identity and journeys areas: `revline stitch`, `revline journey`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from revline.commands.options import DbOption

# The layers below are imported inside each command, for start-up time: see revline/commands/__init__.py.


_MARKERS = {
    "first_touch": "◆ first touch", "lead": "● lead", "mql": "● MQL", "sql": "● SQL",
    "opportunity": "★ opportunity", "won": "★ won", "lost": "✗ lost", "renewal": "↻ renewal",
    "expansion": "▲ expansion", "churn": "✗ churn",
}


def _fmt(value) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def stitch_table(report, title: str, derived: int = 0):
    """The figures of a StitchReport as a rich table: `revline stitch` prints it on either engine."""
    from rich.table import Table

    table = Table(title=title, show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in [
        *([("collected events derived now", derived)] if derived else []),
        ("identities", report.identities), ("identity edges", report.edges), ("persons", report.persons),
        ("CRM records", report.crm_records), ("CRM records merged", report.crm_records_merged),
        ("anonymous-only persons", report.anonymous_persons),
        ("persons with an account", report.people_with_account),
        *[(f"  account from {k}", v) for k, v in report.account_sources.items()],
        ("touchpoints", report.touchpoints), ("touchpoints with person", report.touchpoints_with_person),
        ("touchpoints with account", report.touchpoints_with_account),
        ("CRM source touches explained by an observed touch (dropped)", report.source_touches_superseded),
    ]:
        table.add_row(label, f"{value:,}")
    for t, n in report.unknown_identity_types.items():
        table.add_row(f"[yellow]unknown identity type {t}[/yellow]", f"{n:,}")
    return table


def milestones_table(rows, title: str = "Milestones"):
    """(object, milestone, rows) as a rich table: what a stitch rebuilt, on either engine."""
    from rich.table import Table

    ms = Table(title=title, show_header=True)
    for col in ("object", "milestone", "rows"):
        ms.add_column(col, justify="right" if col == "rows" else "left")
    for obj, milestone, n in rows:
        ms.add_row(obj, milestone, f"{n:,}")
    return ms


def _rows_for_display(df):
    """Fold milestones into the touch that caused them (first touch) or into one line per
    instant, so a person's and its account's identical milestone print once."""
    import pandas as pd

    lines: list[dict] = []
    by_touch: dict[str, dict] = {}
    by_instant: dict[tuple, dict] = {}
    for row in df.itertuples(index=False):
        if row.kind == "touch":
            line = {"time": row.occurred_at, "person": _fmt(row.email) or _fmt(row.person_id),
                    "channel": _fmt(row.channel), "touch": _fmt(row.touch_type),
                    "campaign": _fmt(row.campaign_name), "marks": []}
            lines.append(line)
            by_touch[row.touchpoint_id] = line
            continue
        label = _MARKERS.get(row.milestone, row.milestone)
        if row.object_type == "opportunity" or (row.opportunity_id is not None and not pd.isna(row.opportunity_id)):
            label = f"{label} ({row.opportunity_id})"
        target = by_touch.get(row.touchpoint_id) if isinstance(row.touchpoint_id, str) else None
        if target is None:
            key = (row.occurred_at, _fmt(row.person_id) if row.object_type != "opportunity" else "")
            target = by_instant.get(key)
            if target is None:
                target = {"time": row.occurred_at, "person": _fmt(row.email) or _fmt(row.person_id),
                          "channel": "", "touch": "", "campaign": "", "marks": []}
                by_instant[key] = target
                lines.append(target)
        if label not in target["marks"]:
            target["marks"].append(label)
    return lines


def _minute(when) -> str:
    """YYYY-MM-DD HH:MM for any year (strftime writes year 1 as '1' and refuses year 0 in pandas)."""
    return f"{when.year:04d}-{when.month:02d}-{when.day:02d} {when.hour:02d}:{when.minute:02d}"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command()
    def stitch(
        db: DbOption = None,
        free_mail: Annotated[
            Optional[list[str]],
            typer.Option("--free-mail", help="Extra free-mail domain that must never join an account (repeatable)."),
        ] = None,
    ) -> None:
        """Stitch identities into persons and accounts, then rebuild journeys and milestones."""
        from revline.commands.options import on_spark

        if on_spark():
            from revline.commands import on_engine

            on_engine.stitch(db, list(free_mail or []))
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from revline.screen import console as screen_console, readable

        from revline.commands._hub import run_operation
        from revline.store import resolve_db_path

        console = screen_console()
        path = resolve_db_path(db)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task("Deriving touchpoints of collected events", total=None)
            result = run_operation(path, "stitch", {"free_mail": list(free_mail or [])},
                                   lambda done, total, label: progress.update(task, description=label), create=False)
        report, derived = result.report, result.derived
        # the path on its own unwrapped line: a table title wraps a long path mid-name
        console.print(f"Stitched {path}", soft_wrap=True, highlight=False)
        table = stitch_table(report, "Identity stitch", derived)
        console.print(readable(table))
        console.print(readable(milestones_table(result.milestones), keys=2))
        console.print(f"[green]done[/green] in {report.seconds:.2f}s (stitching)")

    @app.command()
    def journey(
        key: Annotated[str, typer.Argument(help="Account id, domain or name (or a person id / email); an ambiguous name lists its candidates.")],
        db: DbOption = None,
        limit: Annotated[int, typer.Option("--limit", help="Show at most this many lines (0: all).")] = 200,
    ) -> None:
        """Print the ordered touches and milestones of an account (or a person)."""
        from rich.markup import escape
        from rich.table import Table

        from revline.journeys import account_summary, timeline
        from revline.screen import console as screen_console, readable
        from revline.store import connect, resolve_db_path

        console = screen_console()
        con = connect(resolve_db_path(db), read_only=True)
        try:
            try:
                df = timeline(con, key)
            except (KeyError, ValueError) as exc:
                console.print(f"[red]{escape(exc.args[0])}[/red]")
                raise typer.Exit(code=1) from None
            k = df.attrs["key"]
            summary = account_summary(con, k.id) if k.kind == "account" else None
        finally:
            con.close()
        lines = _rows_for_display(df)
        title = f"{k.kind} {k.id} (matched by {k.matched_by})"
        if summary is not None:
            title += f" — {summary.name or ''} {summary.domain or ''}".rstrip()
        table = Table(title=title, show_header=True, show_lines=False)
        for col in ("time", "person", "channel", "touch type", "campaign", "milestones"):
            table.add_column(col, overflow="fold")
        shown = lines if limit <= 0 else lines[:limit]
        for line in shown:
            when = line["time"]
            table.add_row(_minute(when) if hasattr(when, "year") else _fmt(when), line["person"], line["channel"], line["touch"], line["campaign"],
                          ", ".join(line["marks"]))
        console.print(readable(table, keys=3))
        if len(shown) < len(lines):
            console.print(f"[dim]{len(lines) - len(shown)} more lines (use --limit 0 for all)[/dim]")
        if summary is not None:
            console.print(
                f"{summary.people} people ({summary.known_people} in CRM), {summary.touches} touches, "
                f"{summary.opportunities} opportunities, won {summary.won_revenue:,.2f}, "
                f"open pipeline {summary.open_pipeline:,.2f}"
                + (f", {summary.days_first_touch_to_won:.0f} days first touch to won"
                   if summary.days_first_touch_to_won is not None else "")
            )

"""CLI command of the retention area (see revline.cli): `revline retention [--by cohort|segment]`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from revline.commands.options import DbOption

# The layers below are imported inside the command, for start-up time: see revline/commands/__init__.py.


def _pct(x: float) -> str:
    return "-" if x != x else f"{x:.1%}"  # NaN: no base


def _usd(x: float) -> str:
    return f"{x:,.0f}"


def register(app: typer.Typer) -> None:
    """Add this area's command to the main app."""

    @app.command("retention")
    def retention_cmd(
        db: DbOption = None,
        by: Annotated[str, typer.Option("--by", help="cohort (customer start quarter), segment (industry, size band "
                                                     "and region), or one of industry, size_band, region.")] = "cohort",
        as_of: Annotated[Optional[str], typer.Option("--as-of", help="YYYY-MM-DD (default: the day after the latest "
                                                                     "deal event); only data known then is used.")] = None,
        months: Annotated[int, typer.Option("--months", help="Trailing months retention is measured over.")] = 12,
        due: Annotated[int, typer.Option("--due", help="Renewals due next quarter to list (largest expected first).")] = 15,
    ) -> None:
        """Gross and net revenue retention, logo churn, expansion and contraction by cohort or segment, and the
        renewals due next quarter with their renewal probability (docs/retention.md)."""
        from rich.markup import escape
        from rich.table import Table

        from revline.commands._hub import run_operation
        from revline.models.retention.report import GROUPINGS
        from revline.screen import console as screen_console, readable

        console = screen_console()
        if by not in GROUPINGS:
            raise typer.BadParameter(f"{by!r}: choose one of {', '.join(GROUPINGS)}", param_hint="--by")
        try:
            s = run_operation(db, "retention", {"by": by, "as_of": as_of, "months": months})
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        for key, table in s.tables.items():
            t = Table(title=f"Retention by {key.replace('_', ' ')}, {s.months} months to {s.as_of.isoformat()} (USD)")
            for col in (key.replace("_", " "), "customers", "ARR start", "churned", "churn", "contraction", "expansion",
                        "ARR end", "GRR", "NRR", "logo churn"):
                t.add_column(col, justify="left" if col == key.replace("_", " ") else "right")
            for r in table.itertuples(index=False):
                t.add_row(escape(str(getattr(r, key))), str(r.customers), _usd(r.arr_start), str(r.churned), _usd(r.churn_usd),
                          _usd(r.contraction_usd), _usd(r.expansion_usd), _usd(r.arr_end), _pct(r.grr), _pct(r.nrr),
                          _pct(r.logo_churn))
            if table.empty:
                console.print(f"[yellow]no customer had a known contract value on "
                              f"{(s.as_of.replace(year=s.as_of.year - s.months // 12)).isoformat()}[/yellow]"
                              if s.months % 12 == 0 else "[yellow]no customer in the base[/yellow]")
            else:
                console.print(readable(t))
        w0, w1 = s.due_window
        b = s.bookings
        m = s.model
        console.print(f"Renewals due {w0.isoformat()} .. {w1.isoformat()}: {len(s.due)} contracts, "
                      f"{_usd(float(s.due['arr_usd'].sum()))} USD; expected renewal bookings {_usd(b['mean'])} "
                      f"(80% interval {_usd(b['p10'])} .. {_usd(b['p90'])}), {b['count_mean']:.1f} renewals expected")
        console.print(f"renewal model: {int(m['renewals'])} closed renewals ({int(m['renewed'])} renewed); "
                      f"P(renew) at average engagement {_pct(m['p_at_average_engagement'])}; engagement effect "
                      f"{m['engagement_effect']:+.2f} log-odds per log(1 + touches) "
                      f"[{m['engagement_effect_low']:+.2f}, {m['engagement_effect_high']:+.2f}]")
        if len(s.outlook):
            t = Table(title="Expected renewal bookings by quarter (contracts known today; USD)")
            for col in ("quarter", "contracts", "up for renewal", "expected", "80% interval", "renewals expected"):
                t.add_column(col, justify="left" if col == "quarter" else "right")
            for r in s.outlook.itertuples(index=False):
                t.add_row(r.quarter, str(r.contracts), _usd(r.arr_usd), _usd(r.expected_usd),
                          f"{_usd(r.p10_usd)} .. {_usd(r.p90_usd)}", f"{r.expected_renewals:.1f}")
            console.print(readable(t))
        if len(s.due) and due > 0:
            t = Table(title=f"Largest expected renewals due {w0.isoformat()} .. {w1.isoformat()}")
            for col in ("account", "due", "ARR", "P(renew)", "80% interval", "expected"):
                t.add_column(col, justify="left" if col == "account" else "right")
            for r in s.due.sort_values("expected_usd", ascending=False).head(due).itertuples(index=False):
                t.add_row(escape(str(r.account_name if isinstance(r.account_name, str) else r.account_id)), r.due_date.isoformat(), _usd(r.arr_usd), _pct(r.p_renew),
                          f"{_pct(r.p_low)} .. {_pct(r.p_high)}", _usd(r.expected_usd))
            console.print(readable(t))
        for note in s.notes:
            console.print(f"[yellow]note:[/yellow] {escape(note)}")

"""CLI command `revline forecast [--quarter 2026-Q3] [--as-of DATE] [--backtest]` (revline.ops.forecast)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from revline.commands.options import DbOption

# The layers below are imported inside the command, for start-up time: see revline/commands/__init__.py.


def _money(x) -> str:
    try:
        import math

        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"
    except TypeError:
        return str(x)


def _short(x) -> str:
    """1,234,567 -> 1.23M, 45,600 -> 45.6k: the wide table fits 80 columns."""
    import math

    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}" if abs(x) / div < 1000 else f"{x / div:,.0f}{unit}"
    return f"{x:.0f}"


def _pct(x) -> str:
    import math

    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def register(app: typer.Typer) -> None:
    """Add the `forecast` command to the main app."""

    @app.command("forecast")
    def forecast(
        quarter: Annotated[Optional[str], typer.Option("--quarter", help="The quarter to forecast, like 2026-Q3 "
                                                       "(default: the quarter of --as-of); the next one comes too.")] = None,
        as_of: Annotated[Optional[str], typer.Option("--as-of", help="Forecast with what was known on this day "
                                                     "(YYYY-MM-DD; default: today, or the day after the store's last deal).")] = None,
        backtest: Annotated[bool, typer.Option("--backtest", help="Replay past quarters: MAPE and 80 % interval "
                                               "coverage of revline and two baselines.")] = False,
        model: Annotated[str, typer.Option("--model", help="Attribution model for the cost of pipeline per channel.")] = "linear",
        db: DbOption = None,
    ) -> None:
        """Bookings this quarter and next per revenue type, as a distribution (mean, 10/50/90 %), against
        the target, with the new pipeline marketing must source to close the gap."""
        from rich.console import Console

        from revline.commands._hub import run_operation

        console = Console()
        try:
            if backtest:
                _print_backtest(console, run_operation(db, "forecast_backtest", {}, create=False))
                return
            params = {"quarter": quarter, "as_of": as_of, "model": model}
            _print_view(console, run_operation(db, "forecast", params, create=False))
        except (ValueError, FileNotFoundError) as exc:
            typer.echo(f"forecast: {exc}", err=True)
            raise typer.Exit(1) from None


def _print_view(console, view) -> None:
    from rich import box
    from rich.table import Table

    t = Table(title=f"Bookings forecast as of {view.as_of} (USD; 80 % interval p10..p90)", box=box.SIMPLE_HEAD)
    for c in ("quarter", "type", "won", "open", "new", "renewals", "mean", "p10", "p50", "p90"):
        t.add_column(c, justify="left" if c in ("quarter", "type") else "right")
    for r in view.table.itertuples():
        t.add_row(r.quarter, r.revenue_type, _short(r.won_to_date), _short(r.open_deals), _short(r.new_pipeline),
                  _short(r.renewals_due), _short(r.mean), _short(r.p10), _short(r.p50), _short(r.p90),
                  style="bold" if r.revenue_type == "total" else None)
    console.print(t)
    console.print("[dim]won: closed-won before as-of; open: deals open at as-of; new: deals not created yet; "
                  "renewals: contracts due without an opportunity yet[/dim]")
    v = Table(title="Against the target (company target; gap = target - median)", box=box.SIMPLE_HEAD)
    for c in ("quarter", "target", "p10", "p50", "p90", "gap", "P(reach target)"):
        v.add_column(c, justify="left" if c == "quarter" else "right")
    for r in view.vs_target.itertuples():
        v.add_row(r.quarter, _money(r.target), _money(r.p10), _money(r.p50), _money(r.p90), _money(r.gap),
                  _pct(r.p_reach_target))
    console.print(v)
    m = view.marketing
    if m is not None:
        console.print(f"[bold]Marketing's share of {m.quarter}[/bold]: gap {_money(m.gap)}; a new-business pipeline "
                      f"dollar created from now on wins {m.pipeline_yield:.3f} by the quarter's end; extra pipeline "
                      f"needed {_money(m.pipeline_needed)}")
        if len(m.channels):
            ch = Table(box=box.SIMPLE_HEAD)
            for col in ("channel", "spend", "pipeline", "cost per pipeline $", "share", "pipeline needed",
                        "spend needed", "spend if alone"):
                ch.add_column(col, justify="left" if col == "channel" else "right")
            for r in m.channels.itertuples():
                ch.add_row(r.channel, _money(r.spend), _money(r.pipeline), f"{r.cost_per_pipeline:.3f}", _pct(r.share),
                           _money(r.pipeline_needed), _money(r.spend_needed), _money(r.spend_if_alone))
            console.print(ch)
        for n in m.notes:
            console.print(f"[dim]{n}[/dim]")
    for n in view.notes:
        console.print(f"[dim]{n}[/dim]")


def _print_backtest(console, bt) -> None:
    from rich import box
    from rich.table import Table

    if bt.summary.empty:
        console.print("; ".join(bt.notes))
        return
    for h, label in ((0, "the quarter starting at as-of"), (1, "the quarter after")):
        s = bt.summary[bt.summary["horizon"] == h]
        if s.empty:
            continue
        t = Table(title=f"Backtest, {label}: MAPE (lower is better), 80 % interval coverage (80 % is honest)",
                  box=box.SIMPLE_HEAD)
        for c in ("type", "quarters", "MAPE revline", "stage-wtd", "run rate", "cov. revline", "stage-wtd", "run rate"):
            t.add_column(c, justify="left" if c == "type" else "right")
        for rt, g in s.groupby("revenue_type", sort=False):
            g = g.set_index("method")
            t.add_row(rt, str(int(g["quarters"].max())), *[_pct(g.loc[m, "mape"]) for m in ("revline", "stage_weighted", "run_rate")],
                      *[_pct(g.loc[m, "coverage"]) for m in ("revline", "stage_weighted", "run_rate")])
        console.print(t)
    d = bt.detail[bt.detail["revenue_type"] == "total"]
    t = Table(title="Per quarter, total bookings (USD): mean \\[p10..p90] error", box=box.SIMPLE_HEAD)
    for c in ("as of", "quarter", "actual", "revline", "stage-weighted", "run rate"):
        t.add_column(c, justify="left" if c in ("as of", "quarter") else "right")
    for (a, q), g in d.groupby(["as_of", "quarter"], sort=True):
        g = g.set_index("method")
        cells = [f"{_short(g.loc[m, 'forecast'])} \\[{_short(g.loc[m, 'p10'])}..{_short(g.loc[m, 'p90'])}] "
                 f"{_pct(g.loc[m, 'ape'])}" for m in ("revline", "stage_weighted", "run_rate")]
        t.add_row(str(a), q, _short(g["actual"].iloc[0]), *cells)
    console.print(t)
    for n in bt.notes:
        console.print(f"[dim]{n}[/dim]")

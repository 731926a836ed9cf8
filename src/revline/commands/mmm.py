"""CLI commands for the mmm area (see revline.cli): `revline mmm fit|optimize|scenario`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from revline.commands.options import DbOption
from revline.models.mmm.spec import ModelSpec, SamplerConfig

# The layers below are imported inside each command, for start-up time: see revline/commands/__init__.py.

_SPEC, _SAMPLER = ModelSpec(), SamplerConfig()  # the CLI's defaults are the library's

FitDirOpt = Annotated[Optional[Path], typer.Option("--fit-dir", help="Saved fit (default: <store folder>/mmm/<outcome>).")]


def _default_dir(db: Optional[Path], outcome: str) -> Path:
    from revline.store import resolve_db_path

    return resolve_db_path(db).resolve().parent / "mmm" / outcome


def _split(text: Optional[str]) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _parse_amounts(items: list[str], opt: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        for part in _split(item):
            try:
                k, v = part.split("=", 1)
                out[k.strip()] = float(v)
            except ValueError:
                raise typer.BadParameter(f"cannot read {part!r}; expected channel=amount", param_hint=opt) from None
    return out


def _money(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def _load(fit_dir: Optional[Path], db: Optional[Path], outcome: str):
    from revline.models.mmm.fit import MMMFit

    path = fit_dir or _default_dir(db, outcome)
    try:
        return MMMFit.load(path)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fit-dir") from None


@contextmanager
def _user_errors(console) -> Iterator[None]:
    """Bad input (MMMDataError is a ValueError) as one red line and exit code 1, not a traceback."""
    try:
        yield
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    mmm = typer.Typer(help="Bayesian marketing-mix model: fit, optimise budgets, run scenarios.", no_args_is_help=True)
    app.add_typer(mmm, name="mmm")

    @mmm.callback()
    def _backend(ctx: typer.Context) -> None:
        """Without the optional extra (JAX, NumPyro), one line on how to install it and exit 1;
        `--help` still works."""
        import sys

        from revline.models.mmm import missing_backend, require_backend

        if ctx.resilient_parsing or not missing_backend() or {"--help", "-h"} & set(sys.argv[1:]):
            return
        try:
            require_backend()
        except ImportError as exc:
            typer.echo(f"revline mmm: {exc}", err=True)
            raise typer.Exit(1) from None

    @mmm.command("fit")
    def fit_cmd(
        db: DbOption = None,
        csv: Annotated[Optional[Path], typer.Option("--csv", help="Weekly CSV instead of the store.")] = None,
        date_col: Annotated[str, typer.Option("--date-col")] = "date",
        outcome_col: Annotated[str, typer.Option("--outcome-col")] = "y",
        channels: Annotated[Optional[str], typer.Option("--channels", help="Comma-separated spend columns (CSV) or channels (store).")] = None,
        controls: Annotated[Optional[str], typer.Option("--controls", help="Comma-separated control columns (CSV).")] = None,
        outcome: Annotated[str, typer.Option("--outcome", help="pipeline (opportunities created) or revenue (won).")] = "pipeline",
        revenue_type: Annotated[str, typer.Option("--revenue-type", help="new_business, renewal, expansion or 'all'.")] = "new_business",
        fast: Annotated[bool, typer.Option("--fast", help="SVI approximation in seconds instead of full NUTS.")] = False,
        svi_steps: Annotated[int, typer.Option("--svi-steps", help="Optimisation steps per SVI stage (--fast).")] = _SAMPLER.svi_steps,
        chains: Annotated[int, typer.Option("--chains")] = _SAMPLER.chains,
        draws: Annotated[int, typer.Option("--draws")] = _SAMPLER.draws,
        tune: Annotated[int, typer.Option("--tune")] = _SAMPLER.tune,
        seed: Annotated[int, typer.Option("--seed")] = _SAMPLER.seed,
        lag_weeks: Annotated[int, typer.Option("--lag-weeks", help="Weeks from spend to first effect (B2B lag).")] = _SPEC.lag_weeks,
        adstock: Annotated[str, typer.Option("--adstock", help="geometric or delayed (peaked).")] = _SPEC.adstock,
        saturation: Annotated[str, typer.Option("--saturation", help="logistic or hill.")] = _SPEC.saturation,
        l_max: Annotated[int, typer.Option("--l-max", help="Adstock kernel length in weeks.")] = _SPEC.l_max,
        yearly_seasonality: Annotated[int, typer.Option("--yearly-seasonality", help="Fourier order (0 = none).")] = _SPEC.yearly_seasonality,
        trend: Annotated[bool, typer.Option("--trend/--no-trend", help="Linear trend term (left out when a control is a linear time index).")] = _SPEC.trend,
        priors: Annotated[Optional[Path], typer.Option("--priors", help="TOML file of prior overrides.")] = None,
        lift_tests: Annotated[Optional[Path], typer.Option("--lift-tests", help="CSV: channel,start,end,lift,sd (instead of the store's lift tests).")] = None,
        no_lift_tests: Annotated[bool, typer.Option("--no-lift-tests", help="Fit without the store's lift tests (`revline ingest` loads them; used by default).")] = False,
        out: Annotated[Optional[Path], typer.Option("--out", help="Where to save the fit.")] = None,
        holdout_weeks: Annotated[int, typer.Option("--holdout-weeks", min=0, help="Fit on all but the last N weeks and report the forecast error on them against naive baselines (saved to <out>/holdout).")] = 0,
    ) -> None:
        """Fit the mix model, save it and print contributions, ROI and convergence."""
        from rich.markup import escape
        from rich.table import Table

        from revline.screen import console as screen_console, readable

        from revline.commands._hub import absolute, run_operation
        from revline.models.mmm.diagnostics import identification_messages
        from revline.ops.mmm import fit as fit_op

        console = screen_console()
        label = outcome_col if csv is not None else outcome
        target = out or (_default_dir(db, label) if csv is None else Path("mmm") / label)
        if holdout_weeks:  # a fit that did not see the last weeks never replaces the full one
            target = target / "holdout"
        params: dict[str, Any] = {"out": absolute(target), "csv": absolute(csv), "date_col": date_col, "outcome_col": outcome_col,
                  "channels": _split(channels) or None, "controls": _split(controls) or None, "outcome": outcome,
                  "revenue_type": revenue_type, "fast": fast, "svi_steps": svi_steps, "chains": chains,
                  "draws": draws, "tune": tune, "seed": seed, "lag_weeks": lag_weeks, "adstock": adstock,
                  "saturation": saturation, "l_max": l_max, "yearly_seasonality": yearly_seasonality,
                  "trend": trend, "priors": absolute(priors), "lift_tests": absolute(lift_tests),
                  "no_lift_tests": no_lift_tests, "holdout_weeks": holdout_weeks}
        if csv is not None and not channels:
            raise typer.BadParameter("--channels is required with --csv", param_hint="--channels")
        with _user_errors(console):
            with console.status(f"Fitting ({'SVI' if fast else f'NUTS, {chains} chains x {tune}+{draws}'}) ...") as status:
                def progress(done: int | None, total: int | None, text: str) -> None:
                    status.update(text)

                if csv is not None:  # the store is not read: fit here
                    result = fit_op(None, progress=progress, **params)
                else:  # on the store, or as a job of the server holding it
                    result = run_operation(db, "mmm_fit", params, progress)
        for note in result.notes:
            console.print(f"[yellow]note:[/yellow] {note}")
        table = result.contributions
        ident = result.identification  # None only from a result that lacks it: nothing to flag then
        identified = dict(zip(ident["channel"], ident["identified"])) if ident is not None else {}
        t = Table(title=f"Channel contribution to {label} (mean [94% HDI])")
        for col in ("channel", "spend", "contribution", "share", "ROI", "marginal ROI", "identified"):
            t.add_column(col, justify="left" if col == "channel" else "right")
        for r in table.itertuples(index=False):
            t.add_row(escape(r.channel), _money(r.spend),
                      f"{_money(r.contribution)} [{_money(r.contribution_low)}, {_money(r.contribution_high)}]",
                      f"{r.share:.1%}", f"{r.roi:.2f} [{r.roi_low:.2f}, {r.roi_high:.2f}]",
                      f"{r.mroi:.2f} [{r.mroi_low:.2f}, {r.mroi_high:.2f}]",
                      "yes" if identified.get(r.channel) else "[yellow]no[/yellow]")
        console.print(readable(t))
        console.print(f"channels' shares add up to {table['share'].sum():.1%} of the fitted {label}; "
                      "the rest is the baseline")
        for message in identification_messages(ident) if ident is not None else []:
            console.print(f"[yellow]note:[/yellow] {escape(message)}")
        info = result.run_info
        if result.diagnostics is not None:
            d = Table(title="Convergence")
            for col in ("parameter", "mean", "r_hat", "ess_bulk"):
                d.add_column(col, justify="left" if col == "parameter" else "right")
            for r in result.diagnostics.itertuples(index=False):
                flag = "[red]" if (r.r_hat or 0) > 1.01 or (r.ess_bulk or 0) < 400 else ""
                # escape: rich would read "adstock_alpha[tv]" as a style tag and drop the channel
                d.add_row(escape(r.parameter), f"{r.mean:.4g}", f"{flag}{r.r_hat:.3f}", f"{flag}{r.ess_bulk:.0f}")
            console.print(readable(d))
            console.print(f"divergences: {info.get('divergences')}  max R-hat: {info.get('max_r_hat'):.3f}  "
                          f"min bulk ESS: {info.get('min_ess_bulk'):.0f}")
        for sentence in result.checks:
            console.print(escape(sentence))
        for warning in result.warnings:
            console.print(f"[red]warning:[/red] {escape(warning)}")
        for line in getattr(result, "holdout", ()):
            style = "[red]" if line.startswith("warning:") else ""
            console.print(style + escape(line))
        m = result.metrics
        console.print(f"in-sample R^2 {m['r2']:.3f}, MAPE {m['mape']:.1%}; {info['seconds']:.1f} s")
        console.print(f"[green]Saved[/green] to [bold]{target}[/bold] (the fit report: {target}/report.md)")

    @mmm.command("optimize")
    def optimize_cmd(
        budget: Annotated[float, typer.Option("--budget", help="Total budget over the window.")],
        bounds: Annotated[Optional[str], typer.Option("--bounds", help="channel=low:high,... (either side optional).")] = None,
        quarter: Annotated[str, typer.Option("--quarter", help="'next' or e.g. 2025Q3.")] = "next",
        outcome: Annotated[str, typer.Option("--outcome")] = "pipeline",
        fit_dir: FitDirOpt = None,
        db: DbOption = None,
    ) -> None:
        """Allocate a budget over channels to maximise the expected outcome."""
        from rich.table import Table

        from revline.models.mmm.optimizer import optimize_budget, parse_bounds
        from revline.screen import console as screen_console, readable

        console = screen_console()
        result = _load(fit_dir, db, outcome)
        with _user_errors(console):
            with console.status("Optimising ..."):
                table = optimize_budget(result, budget, parse_bounds(bounds), quarter=quarter)
        a = table.attrs
        name = result.roles.outcome_col
        t = Table(title=f"Budget {budget:,.0f} over {a['weeks']} weeks ({a['window_start']} .. {a['window_end']})")
        for col in ("channel", "current plan", "optimal", "change", f"{name} from the channel (optimal) [94% HDI]"):
            t.add_column(col, justify="left" if col == "channel" else "right", no_wrap=col == "channel")
        for r in table.itertuples(index=False):
            t.add_row(r.channel, _money(r.current_spend), _money(r.optimal_spend), _money(r.change),
                      f"{_money(r.optimal_contribution)} [{_money(r.optimal_low)}, {_money(r.optimal_high)}]")
        console.print(readable(t))
        w = a["weeks"]
        console.print(
            f"{name} over the {w} weeks (baseline + media, as `revline mmm scenario` computes it):\n"
            f"  today's plan ({_money(a['current_total_spend'])}): {_money(a['current_outcome'])} "
            f"(= the scenario baseline; fitted last 13 weeks {_money(a['fitted_last_weeks'])}, "
            f"actual {_money(a['actual_last_weeks'])})\n"
            f"  today's mix at {_money(budget)}: {_money(a['current_mix_at_budget_outcome'])}\n"
            f"  optimal at {_money(budget)}: {_money(a['optimal_outcome'])}, gain {_money(a['gain'])} "
            f"[94% HDI {_money(a['gain_low'])}, {_money(a['gain_high'])}], P(better) = {a['prob_better_than_current_mix']:.0%}\n"
            f"  the optimal plan's spend keeps working after the window: {_money(a['optimal_carryover_after_window'])} more")

    @mmm.command("scenario")
    def scenario_cmd(
        add: Annotated[Optional[list[str]], typer.Option("--add", help="channel=amount extra spend over the window.")] = None,
        set_: Annotated[Optional[list[str]], typer.Option("--set", help="channel=amount total spend over the window.")] = None,
        quarter: Annotated[str, typer.Option("--quarter", help="'next' or e.g. 2025Q3.")] = "next",
        carryover: Annotated[bool, typer.Option("--carryover/--no-carryover", help="Count effects after the window.")] = False,
        outcome: Annotated[str, typer.Option("--outcome")] = "pipeline",
        fit_dir: FitDirOpt = None,
        db: DbOption = None,
    ) -> None:
        """Predicted outcome of a plan vs the baseline plan for a quarter."""
        from rich.table import Table

        from revline.models.mmm.scenario import scenario
        from revline.screen import console as screen_console, readable

        console = screen_console()
        result = _load(fit_dir, db, outcome)
        with _user_errors(console):
            table = scenario(result, add=_parse_amounts(add or [], "--add"), set=_parse_amounts(set_ or [], "--set"),
                             quarter=quarter, include_carryover=carryover)
        qs = [c for c in table.columns if c.startswith("q")]
        t = Table(title=f"{result.roles.outcome_col}, {table.attrs['window_start']} .. {table.attrs['window_end']}")
        for col in ("plan", "spend", "mean", *qs):
            t.add_column(col, justify="left" if col == "plan" else "right", no_wrap=col == "plan")
        for r in table.to_dict("records"):
            t.add_row(r["plan"], _money(r["spend"]), _money(r["mean"]), *[_money(r[q]) for q in qs])
        console.print(readable(t))

"""CLI commands for dated currency conversion: `revline fx load FILE`, `revline fx list`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from revline.commands.options import DbOption

# The layers below are imported inside each command, for start-up time: see revline/commands/__init__.py.


def register(app: typer.Typer) -> None:
    """Add the `fx` command group to the main app."""
    fx = typer.Typer(help="Dated conversion rates to USD (the reporting currency).", no_args_is_help=True)
    app.add_typer(fx, name="fx")

    @fx.command("load")
    def load(
        path: Annotated[Path, typer.Argument(help="CSV with date, currency, rate (USD per unit of the currency).", exists=True)],
        db: DbOption = None,
    ) -> None:
        """Load dated rates: every amount converts at the latest rate on or before its date (won revenue
        at its close date, pipeline at its creation date, spend at its day); the fixed defaults
        (revline.vocabulary.USD_RATES) apply where no dated rate covers a date."""
        from revline.commands._hub import absolute, run_operation

        try:
            out = run_operation(db, "fx_load", {"path": absolute(path)})
        except ValueError as exc:
            typer.echo(f"fx load failed, store unchanged: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{path}: {out['read']:,} rates read, {out['written']:,} stored")
        _print(out["rates"])
        for w in out.get("warnings", ()):
            typer.echo(f"check: {w}", err=True)

    @fx.command("list")
    def list_(db: DbOption = None) -> None:
        """Which currencies have dated rates, and over which dates."""
        from revline.commands._hub import run_operation

        out = run_operation(db, "fx_list", {}, create=False)
        if not out["rates"]:
            typer.echo("no dated rates: the fixed defaults (revline.vocabulary.USD_RATES) convert every amount")
            return
        _print(out["rates"])


def _print(rates: list[dict]) -> None:
    for r in rates:
        typer.echo(f"{r['currency']}: {r['rates']:,} rates from {r['first']} to {r['last']} (USD per unit)")
    typer.echo("outside those dates, and for other currencies, the fixed defaults apply (revline.vocabulary.USD_RATES)")

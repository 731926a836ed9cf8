"""CLI command `revline score [--top N] [--as-of DATE] [--backtest]` (revline.ops.score)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from revline.commands.options import DbOption

# The layers below are imported inside the command, for start-up time: see revline/commands/__init__.py.


def _num(x, fmt: str = "{:.3f}") -> str:
    import math

    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def register(app: typer.Typer) -> None:
    """Add the `score` command to the main app."""

    @app.command("score")
    def score(
        top: Annotated[int, typer.Option("--top", help="How many of the hottest accounts to list (0: all).")] = 20,
        as_of: Annotated[Optional[str], typer.Option("--as-of", help="Score with what was known then "
                                                     "(YYYY-MM-DD; default: the store's latest data).")] = None,
        backtest: Annotated[bool, typer.Option("--backtest", help="Time-split backtest: ROC AUC, PR AUC, top-decile "
                                               "lift and calibration error of revline and the points baseline.")] = False,
        cutoff: Annotated[Optional[list[str]], typer.Option("--cutoff", help="A backtest cut-off (repeatable; "
                                                            "default: four, a quarter apart).")] = None,
        high_intent: Annotated[Optional[list[str]], typer.Option("--high-intent", help="Regular expression over page "
                                                                 "paths/URLs marking a high-intent view (repeatable; "
                                                                 "default: pricing, demo, comparison pages).")] = None,
        save: Annotated[Optional[str], typer.Option("--save", help="Also save the fitted scorer (pickle) to this file.")] = None,
        db: DbOption = None,
    ) -> None:
        """Who is in-market: each account's calibrated probability of opening a deal (customers: an
        expansion) within 30 days, with reasons and next best content; or the backtest."""
        from rich.console import Console

        from revline.commands._hub import run_operation

        console = Console()
        try:
            if backtest:
                _print_backtest(console, run_operation(db, "score_backtest", {"cutoffs": cutoff, "high_intent": high_intent},
                                                       create=False))
                return
            params = {"top": top, "as_of": as_of, "high_intent": high_intent, "save_to": save}
            _print_scores(console, run_operation(db, "score", params, create=False))
        except (ValueError, FileNotFoundError) as exc:
            typer.echo(f"score: {exc}", err=True)
            raise typer.Exit(1) from None


def _print_scores(console, view) -> None:
    from rich import box
    from rich.table import Table

    t = Table(title=f"In-market accounts as of {view.as_of:%Y-%m-%d %H:%M} (probability of a deal within 30 days)",
              box=box.SIMPLE_HEAD)
    for c in ("#", "account", "kind", "score", "points", "why", "next best content"):
        t.add_column(c, justify="right" if c in ("#", "score", "points") else "left", overflow="fold")
    for r in view.table.itertuples():
        t.add_row(str(r.rank), str(r.account_name or r.account_id), "expansion" if r.kind == "expansion" else "new",
                  f"{100 * r.score:.1f}%", f"{r.baseline_points:.0f}", "\n".join(r.reasons),
                  "\n".join(r.next_best))
    console.print(t)
    console.print(f"[dim]model: {view.method}; trained on {view.stats.get('train_rows', 0):,} weekly account snapshots "
                  f"({view.stats.get('train_positives', 0):,} opened a deal), calibrated "
                  f"({view.stats.get('calibration', '-')}) on the latest {view.stats.get('calibration_rows', 0):,}; "
                  f"points: the manual recency/frequency score (docs/scoring.md)[/dim]")
    for n in view.notes:
        console.print(f"[dim]{n}[/dim]")


def _print_backtest(console, bt) -> None:
    from rich import box
    from rich.table import Table

    t = Table(title="In-market score backtest: fitted before each cut-off, deals opened in the 30 days after it",
              box=box.SIMPLE_HEAD)
    for c in ("cut-off", "scorer", "accounts", "buyers", "ROC AUC", "PR AUC", "top-decile lift", "calib. error"):
        t.add_column(c, justify="left" if c in ("cut-off", "scorer") else "right")
    for r in bt.table.itertuples():
        t.add_row(f"{r.cutoff:%Y-%m-%d}", r.scorer, f"{r.accounts:,}", f"{r.buyers:,}", _num(r.roc_auc), _num(r.pr_auc),
                  _num(r.top_decile_lift, "{:.2f}x"), _num(r.ece, "{:.4f}"),
                  style="bold" if r.scorer == "revline" else None)
    console.print(t)
    s = bt.summary
    console.print(f"revline ahead on ROC AUC at {s.get('revline_ahead_auc', 0)} of {s.get('cutoffs', 0)} cut-offs, "
                  f"on PR AUC at {s.get('revline_ahead_pr_auc', 0)}")
    for name in ("revline", "points baseline"):
        m = s.get(name, {})
        if "median_lead_days" in m:
            console.print(f"{name}: flagged {100 * m['flagged_share']:.0f}% of {m['deals']} deals in the 90 days before "
                          f"they opened (top 5% of a week's scores), median {_num(m['median_lead_days'], '{:.0f}')} days "
                          f"ahead; won deals: {100 * m['won_flagged_share']:.0f}% flagged, median "
                          f"{_num(m['won_median_lead_days'], '{:.0f}')} days ahead")
    for n in bt.notes:
        console.print(f"[dim]{n}[/dim]")

"""The terminal summary `revline demo` prints: the CRO's questions, answered per model."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from revline.demo.pipeline import DemoResult
from revline.reports.definitions import definition
from revline.reports.roi import roi_table
from revline.reports.tables import attribution_by
from revline.reports.truth import truth_summary, truth_table
from revline.screen import Readable, readable
from revline.store import connect
from revline.vocabulary import DEFAULT_REVENUE_TYPE

SUMMARY_MODELS = ["first_touch", "lead_creation", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped", "full_path", "markov", "shapley"]
# Short headers keep the side-by-side table readable in an 80-column terminal.
SHORT = {"first_touch": "first", "lead_creation": "lead", "last_touch": "last", "linear": "linear", "time_decay": "decay",
         "u_shaped": "U", "w_shaped": "W", "full_path": "Z", "markov": "markov", "shapley": "shapley"}


def _k(x: float) -> str:
    return "–" if pd.isna(x) else f"{x / 1000:,.0f}k"


def df_to_rich(df: pd.DataFrame, title: str, money: bool = True, ratio_cols: tuple[str, ...] = ()) -> Readable:
    """A report table for the terminal: money in thousands, `ratio_cols` with two decimals, NaN as a dash."""
    table = Table(title=title, title_justify="left", header_style="bold cyan")
    for i, c in enumerate(df.columns):
        table.add_column(str(c), justify="left" if i == 0 else "right")
    for _, row in df.iterrows():
        cells = []
        for c in df.columns:
            v = row[c]
            if isinstance(v, float):
                cells.append("–" if pd.isna(v) else (f"{v:,.2f}" if c in ratio_cols else (_k(v) if money else f"{v:,.1f}")))
            else:
                cells.append(str(v))
        table.add_row(*cells)
    return readable(table)


def print_summary(result: DemoResult, console: Console) -> None:
    """The CRO's questions answered in the terminal: revenue and pipeline by channel per model,
    ROI by channel, and each model's error against the simulator's truth when it is there."""
    con = connect(result.db, read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT DISTINCT model FROM attribution_runs").fetchall()}
        models = [m for m in SUMMARY_MODELS if m in present]
        console.print()
        # the same basis as `revline report`, the API and the dashboard (vocabulary.DEFAULT_REVENUE_TYPE), said beside it
        rt = DEFAULT_REVENUE_TYPE
        rev = attribution_by(con, "channel", models, milestone="won", revenue_type=rt).rename(columns=SHORT)
        console.print(df_to_rich(rev, "Revenue won, by channel and model (USD)"))
        console.print(f"[dim]{definition(milestone='won', revenue_type=rt)['text']}[/dim]")
        pipe = attribution_by(con, "channel", models, milestone="opportunity", revenue_type=rt).rename(columns=SHORT)
        console.print(df_to_rich(pipe, "Pipeline created, by channel and model (USD)"))
        console.print(f"[dim]{definition(milestone='opportunity', revenue_type=rt)['text']}[/dim]")
        console.print("[dim]first/last = first/last touch, lead = lead creation, decay = time decay (7-day half-life), U = 40/20/40, "
                      "W = 30/30/30/10, Z = full path 22.5x4/10; markov and shapley are data-driven.[/dim]")
        roi = roi_table(con, "w_shaped", milestone="won", revenue_type=rt, by="channel")
        roi = roi[["channel", "spend", "pipeline", "revenue", "roas", "roi", "cac", "payback_months"]]
        console.print(df_to_rich(roi, "ROI by channel (W-shaped)", ratio_cols=("roas", "roi", "payback_months")))
        console.print(f"[dim]{definition(model='w_shaped', milestone='won', revenue_type=rt, clock='touch date; spend by spend date')['text']}[/dim]")
        truth = result.out_dir / "ground_truth.json"
        if truth.exists():
            summ = truth_summary(truth_table(con, truth))
            console.print(df_to_rich(summ, "How wrong is each model? (vs the simulator's counterfactual truth; lower error is better)",
                                     ratio_cols=("total_abs_share_error", "rank_correlation")))
    finally:
        con.close()
    steps = ", ".join(f"{k.split(' (')[0]} {v:.1f}s" for k, v in result.timings.items())
    console.print(f"\n[dim]Timings: {steps}[/dim]")
    console.print(f"Store: [bold]{result.db}[/bold]   Source files: [bold]{result.out_dir}[/bold]")
    if result.report_path:
        console.print(f"HTML report: [bold green]{result.report_path}[/bold green]")

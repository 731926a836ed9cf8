"""The HTML report's in-market scoring section: the time-split backtest of revline against the
points baseline (the accounts themselves are listed by `revline score` and the dashboard)."""

from __future__ import annotations

import html
import math
from typing import Any

from revline.models.scoring.backtest import backtest, default_cutoffs
from revline.models.scoring.features import data_end, data_start

# Above this the report leaves the backtest to `revline score --backtest` altogether: its cost grows
# with the accounts, and a report should be quick to rewrite.
MAX_ACCOUNTS = 5_000
REPORT_CUTOFFS = 1
"""Cut-offs the report backtests: the latest of `revline score --backtest`'s four, not all of them.
Why: almost all of the section's time is the gradient-boosting refits, one per cut-off (the four
took ~50 s of `revline report --html` on the small demo, 2 cores); the latest cut-off's row is
exactly the CLI's (same weekly snapshot grid, the cut-offs are 13 weeks apart, same seed), and the
page names the command that runs the rest, with the lead times, which need every cut-off."""


def _f(x: float, fmt: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def html_section(con: Any) -> tuple[str, str, str] | None:
    """(id, title, html) of the scoring section; None when the store has too little history."""
    if con.execute("SELECT count(*) FROM touchpoints").fetchone()[0] == 0:
        return None
    n_accounts = con.execute("SELECT count(*) FROM accounts").fetchone()[0]
    if n_accounts > MAX_ACCOUNTS:
        return ("scoring", "In-market accounts: score backtest",
                f"<p>{n_accounts:,} accounts: the backtest (four refits over a year of weekly snapshots) is left out of "
                "the report to keep it quick; run <code>revline score --backtest</code> for it.</p>")
    start, end = data_start(con), data_end(con)
    every = default_cutoffs(start, end) if start is not None and end is not None else []
    cuts = every[-REPORT_CUTOFFS:]
    if not cuts:  # too short a history for any cut-off
        return None
    bt = backtest(con, cuts)
    head = ("<tr><th>cut-off</th><th>scorer</th><th>accounts</th><th>opened a deal</th><th>ROC AUC</th><th>PR AUC</th>"
            "<th>top-decile lift</th><th>calibration error</th></tr>")
    body = "".join(
        f"<tr><td>{r.cutoff:%Y-%m-%d}</td><td>{html.escape(r.scorer)}</td><td>{r.accounts:,}</td><td>{r.buyers:,}</td>"
        f"<td data-value=\"{r.roc_auc}\">{_f(r.roc_auc, '{:.3f}')}</td><td data-value=\"{r.pr_auc}\">{_f(r.pr_auc, '{:.3f}')}</td>"
        f"<td data-value=\"{r.top_decile_lift}\">{_f(r.top_decile_lift, '{:.2f}x')}</td>"
        f"<td data-value=\"{r.ece}\">{_f(r.ece, '{:.4f}')}</td></tr>" for r in bt.table.itertuples())
    parts = [
        "<p>Each account's calibrated probability of opening a deal (customers: an expansion) within 30 days, from its "
        "journey as of the scoring time (docs/scoring.md). At each cut-off the model is fitted on the past only and "
        "judged on the deals opened in the 30 days after it, against the recency/frequency points score a marketing "
        "team would set up by hand.</p>",
        f"<table>{head}{body}</table>",
        f"<p>The latest cut-off only, to keep the report quick (a refit per cut-off is most of its time): "
        f"<code>revline score --backtest</code> gives the same figures for it, the {len(every) - len(cuts)} earlier "
        "cut-off(s) a quarter apart, and how many days ahead each scorer flagged the deals that opened.</p>"
        if len(cuts) < len(every) else "",
    ]
    return "scoring", "In-market accounts: score backtest", "\n".join(p for p in parts if p)


__all__ = ["html_section"]

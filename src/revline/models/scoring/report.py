"""The HTML report's in-market scoring section: the time-split backtest of revline against the
points baseline (the accounts themselves are listed by `revline score` and the dashboard)."""

from __future__ import annotations

import html
import math
from typing import Any

from revline.models.scoring.backtest import backtest


# Above this the report leaves the backtest to `revline score --backtest`: four refits over a year of
# weekly snapshots cost ~50 s of the report on the small demo (2,000 accounts, 2 cores) and grow with
# the accounts, and a report should be quick to rewrite.
MAX_ACCOUNTS = 5_000


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
    try:
        bt = backtest(con)
    except ValueError:  # too short a history for any cut-off
        return None
    head = ("<tr><th>cut-off</th><th>scorer</th><th>accounts</th><th>opened a deal</th><th>ROC AUC</th><th>PR AUC</th>"
            "<th>top-decile lift</th><th>calibration error</th></tr>")
    body = "".join(
        f"<tr><td>{r.cutoff:%Y-%m-%d}</td><td>{html.escape(r.scorer)}</td><td>{r.accounts:,}</td><td>{r.buyers:,}</td>"
        f"<td data-value=\"{r.roc_auc}\">{_f(r.roc_auc, '{:.3f}')}</td><td data-value=\"{r.pr_auc}\">{_f(r.pr_auc, '{:.3f}')}</td>"
        f"<td data-value=\"{r.top_decile_lift}\">{_f(r.top_decile_lift, '{:.2f}x')}</td>"
        f"<td data-value=\"{r.ece}\">{_f(r.ece, '{:.4f}')}</td></tr>" for r in bt.table.itertuples())
    s = bt.summary
    lead = []
    for name in ("revline", "points baseline"):
        m = s.get(name, {})
        if "median_lead_days" in m:
            lead.append(f"{html.escape(name)} flagged {100 * m['flagged_share']:.0f}% of {m['deals']} deals in the 90 days "
                        f"before they opened (top 5% of a week's scores), a median {_f(m['median_lead_days'], '{:.0f}')} "
                        "days ahead")
    parts = [
        "<p>Each account's calibrated probability of opening a deal (customers: an expansion) within 30 days, from its "
        "journey as of the scoring time (docs/scoring.md). At each cut-off the model is fitted on the past only and "
        "judged on the deals opened in the 30 days after it, against the recency/frequency points score a marketing "
        "team would set up by hand (<code>revline score --backtest</code>).</p>",
        f"<table>{head}{body}</table>",
        f"<p>revline ahead on ROC AUC at {s.get('revline_ahead_auc', 0)} of {s.get('cutoffs', 0)} cut-offs. "
        + "; ".join(lead) + ".</p>" if lead else "",
    ]
    return "scoring", "In-market accounts: score backtest", "\n".join(p for p in parts if p)


__all__ = ["html_section"]

"""The funnel's section of the HTML report: people and deals funnels with intervals, win rate, leakage.

Why a section of its own beside the account funnel the report already has: the account funnel
hides how many people it took (a CRM export of MQLs shows the same count at every stage), and
the win rate and where deals stall are the CRO's first questions.
"""

from __future__ import annotations

import html

import duckdb
import pandas as pd

from revline.models.funnel.model import funnel_report


def _pct(x) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * float(x):.1f} %"


def _days(x) -> str:
    return "–" if x is None or pd.isna(x) else f"{float(x):.1f}"


def _stages(df: pd.DataFrame) -> str:
    head = ("<tr><th>stage</th><th>count</th><th>conversion to next (95 % interval)</th>"
            "<th>days in stage, median (p25–p75)</th></tr>")
    rows = "".join(
        f"<tr><td>{html.escape(str(r.stage))}</td><td data-value=\"{r.count}\">{r.count:,}</td>"
        f"<td data-value=\"{'' if pd.isna(r.conversion_to_next) else r.conversion_to_next}\">{_pct(r.conversion_to_next)}"
        + ("" if pd.isna(r.conversion_low) else f" ({_pct(r.conversion_low)} – {_pct(r.conversion_high)})")
        + f"</td><td>{_days(r.days_median)}" + ("" if r.days_n == 0 else f" ({_days(r.days_p25)} – {_days(r.days_p75)})")
        + "</td></tr>" for r in df.itertuples(index=False))
    return f"<table>{head}{rows}</table>"


def html_section(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str] | None:
    """(id, title, html) of the report's funnel section; None when the store holds no lead or deal."""
    lead = funnel_report(con, "lead")
    deals = funnel_report(con, "opportunity", by="owner")
    if int(lead.stages["count"].max() if len(lead.stages) else 0) == 0 and deals.win_rate["deals"].sum() == 0:
        return None
    w = deals.win_rate
    total = w[w["key"] == "all"].iloc[0]
    owners = w[w["key"] != "all"]
    leak = deals.leakage[deals.leakage["key"] == "all"]
    parts = [
        f"<p>{html.escape(lead.definition.describe().capitalize())}. A person reaches <em>opportunity</em> when a deal is sourced by "
        "them (its primary contact) and <em>won</em> when that deal is won. Counts are cumulative (reached the stage "
        "or a later one); intervals are Wilson 95 %. Definitions: docs/funnel.md.</p>",
        _stages(lead.stages),
        f"<h3>Deals: win rate {_pct(total.win_rate)} ({_pct(total.win_rate_low)} – {_pct(total.win_rate_high)})</h3>",
        f"<p>{int(total.won):,} won of {int(total.closed):,} closed new-business deals ({int(total.open):,} open). "
        "Stage to stage, from the CRM's stage history:</p>",
        _stages(deals.stages[deals.stages["key"] == "all"]),
    ]
    if len(owners) > 1 or (len(owners) == 1 and owners.iloc[0]["key"] != "(none)"):
        parts.append("<h3>Win rate by owner</h3><table><tr><th>owner</th><th>won</th><th>closed</th><th>win rate</th></tr>"
                     + "".join(f"<tr><td>{html.escape(str(r.key))}</td><td>{r.won:,}</td><td>{r.closed:,}</td>"
                               f"<td data-value=\"{'' if pd.isna(r.win_rate) else r.win_rate}\">{_pct(r.win_rate)}</td></tr>"
                               for r in owners.itertuples(index=False)) + "</table>")
    parts.append(f"<h3>Leakage as of {deals.definition.as_of:%Y-%m-%d}</h3><table><tr><th>stage</th><th>open</th>"
                 "<th>stalled (open longer than the stage's p90)</th><th>died (lost from the stage)</th></tr>"
                 + "".join(f"<tr><td>{html.escape(str(r.stage))}</td><td>{r.open:,}</td><td>{r.stalled:,}</td>"
                           f"<td>{r.died:,} ({_pct(r.died_share)})</td></tr>" for r in leak.itertuples(index=False))
                 + "</table>")
    return "funnel-levels", "Funnel of people and deals, win rate and leakage", "\n".join(parts)


__all__ = ["html_section"]

"""The HTML report's forecast section: this quarter and next per revenue type, with the interval.

The target and marketing's share need the reports layer (revline.reports.forecast); the dashboard
panel and `revline forecast` show them. This section is the model's own view.
"""

from __future__ import annotations

import html
from typing import Any

from revline.models.forecast.data import default_as_of
from revline.models.forecast.model import ForecastConfig
from revline.models.forecast.run import forecast_store


def _usd(x: float) -> str:
    return f"${x:,.0f}"


def html_section(con: Any) -> tuple[str, str, str] | None:
    """(id, title, html) of the forecast section; None when the store has no opportunities."""
    if con.execute("SELECT count(*) FROM opportunities").fetchone()[0] == 0:
        return None
    as_of = default_as_of(con)
    fc = forecast_store(con, as_of, config=ForecastConfig(n_sims=2000))  # the report states 80 % bounds, not tails
    head = ("<tr><th>quarter</th><th>revenue type</th><th>won so far</th><th>open deals</th><th>not created yet</th>"
            "<th>renewals due</th><th>p10</th><th>median</th><th>p90</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(r.quarter)}</td><td>{html.escape(r.revenue_type)}</td><td>{_usd(r.won_to_date)}</td>"
        f"<td>{_usd(r.open_deals)}</td><td>{_usd(r.new_pipeline)}</td><td>{_usd(r.renewals_due)}</td>"
        f"<td data-value=\"{r.p10}\">{_usd(r.p10)}</td><td data-value=\"{r.p50}\">{_usd(r.p50)}</td>"
        f"<td data-value=\"{r.p90}\">{_usd(r.p90)}</td></tr>" for r in fc.table.itertuples())
    parts = [
        f"<p>As of {as_of.isoformat()}, with only what was known then. Open deals win by their stage, age and time in "
        "stage (landmark survival on the store's history), deals not created yet come from the creation rate and the "
        "time to win, renewals due from the retention model; a 2,000-run Monte Carlo, so p10..p90 is an 80 % interval. "
        "<code>revline forecast --backtest</code> replays past quarters against stage-weighted and run-rate baselines "
        "(docs/forecast.md).</p>",
        f"<table>{head}{body}</table>",
    ]
    parts += [f"<p><em>{html.escape(n)}</em></p>" for n in fc.notes]
    return "forecast", "Bookings forecast", "\n".join(parts)


__all__ = ["html_section"]

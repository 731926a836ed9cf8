// Deals by a promoted dimension (/api/dimensions, /api/deals/by/<name>): won revenue, win rate and
// pipeline per owner, product or any --dimension of ingest, in USD (won at its close date's rate,
// pipeline at its creation date's), under the page's dates and revenue type.
"use strict";
(() => {
  const r = window.revline;

  async function load() {
    const dims = (await r.api("dimensions")).opportunity;
    const select = r.$("deals-dimension");
    const chosen = select.value;
    r.$("deals-empty").hidden = dims.length > 0;
    r.$("deals-table").hidden = dims.length === 0;
    if (!dims.length) { select.replaceChildren(); r.$("deals-notes").textContent = ""; return; }
    select.replaceChildren(...dims.map((d) => { const o = document.createElement("option"); o.value = d; o.textContent = d; return o; }));
    select.value = dims.includes(chosen) ? chosen : dims[0];
    const f = r.filters();
    const d = await r.api(`deals/by/${encodeURIComponent(select.value)}`, { start: f.start, end: f.end, revenue_type: f.revenue_type });
    r.$("deals-key").textContent = select.value;
    r.$("deals-definition").textContent = `${d.currency}; won revenue by close date, pipeline by creation date; win rate = won / closed`;
    r.rows("deals-table", [...d.rows, d.total], (x) => [[x.value, x.value], [r.money.format(x.won_revenue), x.won_revenue],
      [r.num.format(x.won_deals), x.won_deals], [r.num.format(x.closed_deals), x.closed_deals], [r.pct(x.win_rate), x.win_rate],
      [r.money.format(x.pipeline_created), x.pipeline_created], [r.money.format(x.open_pipeline), x.open_pipeline]]);
    r.$("deals-notes").textContent = d.notes.join(" ");
  }

  r.$("deals-dimension").addEventListener("change", () => load());
  r.register(load);
})();

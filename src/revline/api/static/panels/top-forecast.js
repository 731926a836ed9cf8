// Bookings forecast vs target (/api/forecast): this quarter and next, the median with its 80 %
// interval (p10..p90) against the company target, and marketing's share of the gap. The first
// thing a CRO reads: will we make the quarter, and how sure are we.
"use strict";
(() => {
  const r = window.revline;
  const orDash = (x, f) => (x === null || x === undefined ? "—" : f(x));

  async function load() {
    let d;
    try {
      d = await r.api("forecast", { model: r.$("model").value });
    } catch (err) {
      if (String(err.message || err).includes(": 404")) { r.$("forecast-empty").hidden = false; return; }
      throw err;
    }
    r.$("forecast-empty").hidden = true;
    r.setValue("forecast-as-of", d.as_of, `as of ${d.as_of} (USD; bars: median, whiskers: 80 % interval)`);
    const t = d.vs_target;
    Plotly.react("chart-forecast", [
      { type: "bar", name: "forecast (median)", x: t.map((q) => q.quarter), y: t.map((q) => q.p50), marker: { color: "#3b5bdb" },
        error_y: { type: "data", symmetric: false, array: t.map((q) => q.p90 - q.p50), arrayminus: t.map((q) => q.p50 - q.p10) } },
      { type: "scatter", mode: "markers", name: "target", x: t.map((q) => q.quarter), y: t.map((q) => q.target),
        marker: { symbol: "line-ew-open", size: 40, line: { width: 3, color: "#e8590c" } } },
      { type: "bar", name: "won so far", x: t.map((q) => q.quarter), y: t.map((q) => q.won_to_date), marker: { color: "#94d82d" } },
    ], r.layout({ barmode: "overlay", xaxis: { type: "category" }, yaxis: { tickprefix: "$" } }), r.config);
    r.rows("forecast-table", t, (q) => [[q.quarter, q.quarter], [orDash(q.target, r.money.format), q.target],
      [r.money.format(q.won_to_date), q.won_to_date], [r.money.format(q.p10), q.p10], [r.money.format(q.p50), q.p50],
      [r.money.format(q.p90), q.p90], [orDash(q.gap, r.money.format), q.gap], [r.pct(q.p_reach_target), q.p_reach_target]]);
    const m = d.marketing;
    const el = r.$("forecast-marketing");
    el.dataset.value = m && m.pipeline_needed !== null ? String(m.pipeline_needed) : "";
    if (!m || m.gap === null) {
      el.textContent = m ? m.notes.join(" ") : "";
    } else if (m.gap <= 0) {
      el.textContent = `${m.quarter}: the median reaches the target; no extra pipeline needed.`;
    } else {
      const top = m.channels.slice(0, 3).map((c) => `${c.channel} ${r.money.format(c.spend_needed)}`).join(", ");
      el.textContent = `${m.quarter}: ${r.money.format(m.gap)} short at the median. Marketing would have to source ` +
        `${orDash(m.pipeline_needed, r.money.format)} more new-business pipeline now (a pipeline dollar created ` +
        `now wins ${(100 * m.pipeline_yield).toFixed(1)} cents this quarter)` + (top ? `; at today's cost per pipeline: ${top}.` : ".");
    }
  }

  r.register(load);
})();

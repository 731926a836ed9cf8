// Sourced vs influenced (GET /api/influence): opportunities, not touches, with a touch of the channel in
// the window before creation; the definition line says so beside the table. Reads the page's filters.
"use strict";
(() => {
  const r = window.revline;
  async function load() {
    const f = r.filters();
    const res = await r.api("influence", { ...f, by: r.$("influence-by").value,
      window_days: r.$("influence-window").value || "0" });
    r.define("def-influence", res.definition);
    r.$("influence-table").dataset.windowDays = String(res.window_days);
    r.rows("influence-table", res.rows, (x) => [[x.name, x.key],
      [r.num.format(x.sourced_opportunities), x.sourced_opportunities], [r.money.format(x.sourced_pipeline), x.sourced_pipeline],
      [r.num.format(x.influenced_opportunities), x.influenced_opportunities],
      [r.money.format(x.influenced_pipeline), x.influenced_pipeline], [r.pct(x.influenced_share), x.influenced_share]]);
  }
  r.register(load);
  window.addEventListener("DOMContentLoaded", () => {
    for (const id of ["influence-by", "influence-window"]) r.$(id).addEventListener("change", async () => {
      document.body.dataset.ready = "false";
      try { await load(); } catch (err) { r.$("status").textContent = String(err.message || err); }
      document.body.dataset.ready = "true";
    });
  });
})();

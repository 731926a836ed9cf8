// Funnel by level (revline.models.funnel through /api/funnel?level=...): leads, deals or accounts,
// split by channel, source, segment or cohort, with Wilson intervals, days in stage, win rate and
// leakage. Raw numbers stay in data-value attributes so tests compare them with the API.
"use strict";
(() => {
  const r = window.revline;
  const days = (x) => (x === null || x === undefined ? "—" : x.toFixed(1));
  // Switching level then split quickly starts two loads; only the latest may draw (an earlier answer
  // arriving last would show the unsplit funnel under the split's switch) and mark the page ready.
  let latest = 0;
  async function load() {
    const mine = ++latest;
    // the page's filters (dates, revenue type, region) apply here too; campaign level means nothing to a funnel
    const { campaign_level: _unused, ...filters } = r.filters();
    // under the page's "all" no type is sent: the server reads every funnel's default (vocabulary.FUNNEL_REVENUE_TYPE)
    const params = { level: r.$("funnel-level").value, by: r.$("funnel-by").value, ...filters,
      revenue_type: filters.revenue_type === "all" ? "" : filters.revenue_type };
    const f = await r.api("funnel", params);
    if (mine !== latest) return false;
    r.$("funnel-levels-definition").textContent = `(${f.definition.text})`;
    const total = f.win_rate.find((w) => w.key === "all");
    r.setValue("funnel-win-rate", total ? total.win_rate : null, total ? r.pct(total.win_rate) : "—");
    r.$("funnel-win-rate-detail").textContent = total
      ? `${r.num.format(total.won)} won of ${r.num.format(total.closed)} closed (95 % ${r.pct(total.win_rate_low)}–${r.pct(total.win_rate_high)}), ${r.num.format(total.open)} open`
      : "";
    r.rows("funnel-levels-table", f.stages, (s) => [[s.key, s.key], [s.stage, s.stage], [r.num.format(s.count), s.count],
      [r.pct(s.conversion_to_next), s.conversion_to_next],
      [s.conversion_low === null ? "—" : `${r.pct(s.conversion_low)}–${r.pct(s.conversion_high)}`, s.conversion_low],
      [days(s.days_median), s.days_median],
      [s.days_n ? `${days(s.days_p25)}–${days(s.days_p75)}` : "—", s.days_p25]]);
    const leaks = f.leakage.filter((l) => !f.by || l.key !== "all");
    r.rows("funnel-leakage-table", leaks, (l) => [[l.key, l.key], [l.stage, l.stage], [r.num.format(l.reached), l.reached],
      [r.num.format(l.open), l.open], [r.num.format(l.stalled), l.stalled], [r.num.format(l.died), l.died],
      [r.pct(l.died_share), l.died_share], [days(l.p90_days), l.p90_days]]);
    return true;
  }
  r.register(load);
  for (const id of ["funnel-level", "funnel-by"]) {
    r.$(id).addEventListener("change", async () => {
      document.body.dataset.ready = "false";
      let drawn = true;
      try { drawn = await load(); } catch (err) { r.$("status").textContent = String(err.message || err); }
      if (drawn) document.body.dataset.ready = "true";
    });
  }
})();

// Retention: NRR and GRR by customer cohort (GET /api/retention), logo churn, and the renewals due
// next quarter with their renewal probability and 80 % interval. Raw numbers sit in data-value.
"use strict";
(() => {
  const r = window.revline;
  const DUE_ROWS = 12;

  async function load() {
    const d = await r.api("retention", { by: "cohort" });
    const cohorts = d.tables.cohort || [];
    const all = cohorts.length ? cohorts[cohorts.length - 1] : null;
    r.$("retention-empty").hidden = cohorts.length > 0 || d.due.length > 0;
    r.setValue("retention-as-of", d.as_of, `(${d.months} months to ${d.as_of})`);
    r.setValue("retention-nrr", all ? all.nrr : null, r.pct(all ? all.nrr : null));
    r.setValue("retention-grr", all ? all.grr : null, r.pct(all ? all.grr : null));
    r.setValue("retention-logo-churn", all ? all.logo_churn : null, r.pct(all ? all.logo_churn : null));
    const dueUsd = d.due.reduce((s, x) => s + x.arr_usd, 0);
    r.setValue("retention-due-usd", dueUsd, `${r.money.format(dueUsd)} (${d.due.length})`);
    r.setValue("retention-due-expected", d.bookings.mean,
      `expected ${r.money.format(d.bookings.mean)} [${r.money.format(d.bookings.p10)} – ${r.money.format(d.bookings.p90)}]`);
    r.setValue("retention-due-window", d.due_window.join(" .. "), `${d.due_window[0]} .. ${d.due_window[1]}`);
    const groups = cohorts.filter((c) => c.cohort !== "all");
    r.rows("retention-cohorts", cohorts, (c) => [
      [c.cohort], [String(c.customers), c.customers], [r.money.format(c.arr_start), c.arr_start],
      [r.pct(c.grr), c.grr], [r.pct(c.nrr), c.nrr], [r.pct(c.logo_churn), c.logo_churn]]);
    const top = [...d.due].sort((a, b) => b.expected_usd - a.expected_usd).slice(0, DUE_ROWS);
    r.rows("retention-due", top, (x) => [
      [x.account_name || x.account_id, x.account_id], [x.due_date, x.due_date], [r.money.format(x.arr_usd), x.arr_usd],
      [r.pct(x.p_renew), x.p_renew], [`${r.pct(x.p_low)} – ${r.pct(x.p_high)}`, `${x.p_low},${x.p_high}`],
      [r.money.format(x.expected_usd), x.expected_usd]]);
    if (window.Plotly && groups.length) {
      const x = groups.map((c) => c.cohort);
      window.Plotly.react("retention-chart", [
        { type: "bar", name: "GRR", x, y: groups.map((c) => c.grr), marker: { color: "#74c0fc" } },
        { type: "bar", name: "NRR", x, y: groups.map((c) => c.nrr), marker: { color: "#3b5bdb" } },
      ], r.layout({ barmode: "group", xaxis: { type: "category", title: "customer cohort (start quarter)" },
        yaxis: { tickformat: ".0%" } }), r.config);
    }
  }

  r.register(load);
})();

// revline dashboard: every figure on the page comes from the read API (/api/*), fetched with the
// rl_read_key cookie set at login. Raw numbers are kept in data-value attributes so tests (and
// curious users) can compare them with the API.
"use strict";
const $ = (id) => document.getElementById(id);
const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
const num = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
const pct = (x) => (x === null || x === undefined ? "—" : (100 * x).toFixed(1) + "%");
const layout = (extra) => Object.assign({ margin: { t: 20, r: 10, b: 60, l: 70 }, height: 320,
  paper_bgcolor: "#fff", plot_bgcolor: "#fff", legend: { orientation: "h" } }, extra || {});
const config = { displaylogo: false, responsive: true };

async function api(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v) q.set(k, v);
  const res = await fetch(`/api/${path}${q.toString() ? "?" + q : ""}`, { credentials: "same-origin" });
  if (res.status === 401) { window.location = "/dashboard"; throw new Error("signed out"); }
  if (!res.ok) throw new Error(`${path}: ${res.status} ${(await res.json()).detail || ""}`);
  return res.json();
}

function setValue(id, value, text) {
  const el = $(id);
  el.dataset.value = value === null || value === undefined ? "" : String(value);
  el.textContent = text;
}

function rows(tableId, items, cells) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    for (const [text, value] of cells(item)) {
      const td = document.createElement("td");
      td.textContent = text;
      if (value !== undefined) td.dataset.value = value === null ? "" : String(value);
      tr.appendChild(td);
    }
    return tr;
  }));
}

const range = () => ({ start: $("start").value, end: $("end").value });
// The filters every figure is read under; their defaults (all revenue types, all regions, programs)
// are the API's and the CLI's (revline/vocabulary.py), and each figure states them beside it.
const filters = () => ({ ...range(), revenue_type: $("revenue-type").value, segment: $("segment").value,
  campaign_level: $("campaign-level").value });
const define = (id, d) => { const el = $(id); el.textContent = d ? d.text : ""; el.title = d ? d.text : ""; };

async function loadKpis() {
  const { campaign_level, ...f } = filters();
  const k = await api("kpis", { model: $("model").value, ...f });
  const noTarget = k.revenue_type === "all" ? "no target" : "no target (targets cover every revenue type)";
  setValue("kpi-revenue", k.revenue, money.format(k.revenue));
  $("kpi-revenue-att").textContent = k.revenue_target ? `${pct(k.revenue / k.revenue_target)} of ${money.format(k.revenue_target)} target` : noTarget;
  setValue("kpi-pipeline", k.pipeline, money.format(k.pipeline));
  $("kpi-pipeline-att").textContent = k.pipeline_target ? `${pct(k.pipeline / k.pipeline_target)} of ${money.format(k.pipeline_target)} target` : noTarget;
  setValue("kpi-attributed", k.attributed_revenue, money.format(k.attributed_revenue));
  $("kpi-unattributed").textContent = `${money.format(k.unattributed_revenue)} of the revenue won has no eligible touch`;
  setValue("kpi-spend", k.spend, money.format(k.spend));
  setValue("kpi-roi", k.roi, k.roi === null ? "—" : pct(k.roi));
  for (const [id, key] of [["def-revenue", "revenue"], ["def-pipeline", "pipeline"], ["def-attributed", "attributed"], ["def-roi", "roi"]])
    define(id, k.definitions[key]);
  document.querySelectorAll(".model-name").forEach((el) => (el.textContent = k.model ? `(${k.model})` : ""));
}

async function loadTargets() {
  const t = await api("revenue-vs-target", { ...range(), segment: $("segment").value });
  define("def-targets", t.definition);
  const x = t.rows.map((r) => `${r.period_start} – ${r.period_end}`);
  Plotly.react("chart-targets", [
    { type: "bar", name: "Revenue won", x, y: t.rows.map((r) => r.revenue), marker: { color: "#3b5bdb" } },
    { type: "scatter", mode: "lines+markers", name: "Revenue target", x, y: t.rows.map((r) => r.revenue_target), line: { color: "#1d2433", dash: "dash" } },
    { type: "bar", name: "Pipeline created", x, y: t.rows.map((r) => r.pipeline), marker: { color: "#9db2ff" } },
    { type: "scatter", mode: "lines+markers", name: "Pipeline target", x, y: t.rows.map((r) => r.pipeline_target), line: { color: "#667085", dash: "dot" } },
  ], layout({ barmode: "group", xaxis: { type: "category" }, yaxis: { tickprefix: "$" } }), config);
}

async function loadAttribution() {
  const params = { model: $("model").value, by: $("by").value, milestone: $("milestone").value, ...filters() };
  const status = $("status");
  try {
    const a = await api("attribution", params);
    const money_ = a.milestone === "won" || a.milestone === "opportunity";
    define("def-attribution", a.definition);
    Plotly.react("chart-attribution", [{ type: "bar", x: a.rows.map((r) => r.name), customdata: a.rows.map((r) => r.key),
      y: a.rows.map((r) => (money_ ? r.revenue_credit : r.credit)), marker: { color: "#3b5bdb" } }],
      layout({ yaxis: money_ ? { tickprefix: "$" } : { title: "conversions credited" } }), config);
    rows("attribution-table", a.rows, (r) => [[r.name, r.key], [money.format(r.revenue_credit), r.revenue_credit],
      [num.format(r.credit), r.credit], [pct(r.share), r.share]]);
    $("attribution-table").dataset.model = a.model;
    $("attribution-table").dataset.query = JSON.stringify(params);
    status.textContent = "";
  } catch (err) {
    rows("attribution-table", [], () => []);
    Plotly.purge("chart-attribution");
    define("def-attribution", null);
    status.textContent = String(err.message || err);
  }
}

async function loadRoi() {
  try {
    const r = await api("roi", { model: $("model").value, by: $("roi-by").value, ...filters() });
    define("def-roi-table", r.definition);
    rows("roi-table", [...r.rows, r.total], (x) => [[x.name, x.key], [money.format(x.spend), x.spend],
      [money.format(x.attributed_revenue), x.attributed_revenue], [money.format(x.attributed_pipeline), x.attributed_pipeline],
      [pct(x.roi), x.roi], [x.roas === null ? "—" : num.format(x.roas) + "×", x.roas],
      [x.cac === null ? "—" : money.format(x.cac), x.cac]]);
  } catch (err) { rows("roi-table", [], () => []); }
  await loadUnifiedRoi();
}

// One ROI per channel (GET /api/roi/unified): the mix model where touches cannot see a channel,
// attribution calibrated by it elsewhere; the per-model table stays one switch away (#roi-view).
async function loadUnifiedRoi() {
  const span = (v, lo, hi, f) => (v === null ? "—" : f(v)) + (lo === null || hi === null ? "" : ` [${f(lo)}, ${f(hi)}]`);
  try {
    const rt = $("revenue-type").value;
    const u = await api("roi/unified", { model: $("model").value, revenue_type: rt === "all" ? "" : rt });
    $("def-roi-unified").textContent = `${u.outcome}, ${u.revenue_type || "all"} revenue types; ${u.method}`;
    rows("roi-unified-table", u.rows, (x) => [[x.channel, x.channel], [x.source, x.source],
      [x.spend === null ? "—" : money.format(x.spend), x.spend],
      [span(x.value, x.value_low, x.value_high, (v) => money.format(v)), x.value],
      [span(x.per_dollar, x.per_dollar_low, x.per_dollar_high, (v) => num.format(v)), x.per_dollar],
      [money.format(x.attributed), x.attributed], [x.note, x.note]]);
  } catch (err) { rows("roi-unified-table", [], () => []); $("def-roi-unified").textContent = String(err.message || err); }
}

function showRoiView() {
  const unified = $("roi-view").value === "unified";
  $("roi-unified-view").hidden = !unified;
  $("roi-raw-view").hidden = unified;
}

async function loadFunnel() {
  const rt = $("revenue-type").value;
  // under "all" no type is sent: the server shows every funnel's default (vocabulary.FUNNEL_REVENUE_TYPE)
  const f = await api("funnel", { ...range(), revenue_type: rt === "all" ? "" : rt });
  define("def-funnel", f.definition);
  Plotly.react("chart-funnel", [{ type: "funnel", y: f.stages.map((s) => s.stage), x: f.stages.map((s) => s.count),
    textinfo: "value+percent initial", marker: { color: "#3b5bdb" } }], layout({ margin: { t: 10, r: 10, b: 30, l: 90 } }), config);
  rows("funnel-table", f.stages, (s) => [[s.stage, s.stage], [num.format(s.count), s.count],
    [pct(s.conversion_to_next), s.conversion_to_next],
    [s.median_days_in_stage === null ? "—" : num.format(s.median_days_in_stage), s.median_days_in_stage]]);
}

async function searchAccounts() {
  const res = await api("accounts", { search: $("account-search").value.trim(), limit: "20" });
  const list = $("account-results");
  list.replaceChildren(...res.accounts.map((a) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.accountId = a.account_id;
    b.textContent = `${a.name || a.account_id} — ${a.domain || ""} (${a.opportunities} deals, ${money.format(a.won_revenue)} won)`;
    b.addEventListener("click", () => openJourney(a.account_id));
    li.appendChild(b);
    return li;
  }));
}

// The open journey follows the live pipeline: while it is shown (and the tab is visible) the panel
// re-reads its account's journey every JOURNEY_POLL_MS (one small indexed query per tick, never two
// at once) and redraws only when the events changed, so a new collector touch appears by itself.
const JOURNEY_POLL_MS = 3000;
const journey = { accountId: null, signature: null, timer: null, busy: false };

// any change of the account or its events (a new touch, a re-stitched person) redraws
const journeySignature = (j) => JSON.stringify(j);

function renderJourney(j) {
  $("journey-title").textContent = `${j.account.name || j.account.account_id} (${j.account.account_id})`;
  const touches = j.events.filter((e) => e.kind === "touch");
  const stages = j.events.filter((e) => e.kind === "stage");
  Plotly.react("chart-journey", [
    { type: "scatter", mode: "markers", name: "touches", x: touches.map((e) => e.occurred_at), y: touches.map((e) => e.channel),
      text: touches.map((e) => `${e.label}${e.campaign_id ? " · " + (e.campaign_name || e.campaign_id) : ""}`), marker: { size: 10, color: "#3b5bdb" } },
    { type: "scatter", mode: "markers+text", name: "stages", x: stages.map((e) => e.occurred_at), y: stages.map(() => "stage"),
      text: stages.map((e) => e.label), textposition: "top center", marker: { size: 12, symbol: "diamond", color: "#e8590c" } },
  ], layout({ yaxis: { type: "category" } }), config);
  const count = $("journey-count");
  count.dataset.value = String(j.events.length);
  count.dataset.touches = String(touches.length);
  count.textContent = `${touches.length} touches, ${stages.length} stage changes`;
  // the latest touches as text, newest first (by time, then by their order in the journey)
  const latest = touches.map((e, i) => [e, i]).sort((a, b) =>
    (a[0].occurred_at < b[0].occurred_at ? 1 : a[0].occurred_at > b[0].occurred_at ? -1 : b[1] - a[1])).slice(0, 5);
  $("journey-touches").replaceChildren(...latest.map(([e]) => {
    const li = document.createElement("li");
    li.dataset.ref = e.ref || "";
    li.textContent = [e.occurred_at.replace("T", " ").slice(0, 19), e.label, e.channel || "no channel",
      e.campaign_name || e.campaign_id || "no campaign"].join(" · ");
    return li;
  }));
}

function journeyChecked(text) { $("journey-live").textContent = text || `live · checked ${new Date().toLocaleTimeString()}`; }

async function pollJourney() {
  if (journey.busy || journey.accountId === null || document.hidden) return;
  const accountId = journey.accountId;
  journey.busy = true;
  try {
    const j = await api(`accounts/${encodeURIComponent(accountId)}/journey`);
    if (accountId !== journey.accountId) return;  // another account was opened meanwhile
    const signature = journeySignature(j);
    if (signature !== journey.signature) { journey.signature = signature; renderJourney(j); }
    journeyChecked();
  } catch (err) {
    if (accountId === journey.accountId) journeyChecked(`not refreshed: ${String(err.message || err)}`);
  } finally {
    journey.busy = false;
  }
}

async function openJourney(accountId) {
  clearInterval(journey.timer);
  journey.timer = null;
  journey.accountId = accountId;
  journey.signature = null;
  const j = await api(`accounts/${encodeURIComponent(accountId)}/journey`);
  if (accountId !== journey.accountId) return;  // a later click won
  journey.signature = journeySignature(j);
  renderJourney(j);
  journeyChecked();
  journey.timer = setInterval(pollJourney, JOURNEY_POLL_MS);
}

async function loadModels() {
  const m = await api("models");
  const select = $("model");
  const won = [...new Set(m.runs.filter((r) => r.milestone === "won").map((r) => r.model))];
  const names = won.length ? won : m.models;
  select.replaceChildren(...names.map((name) => new Option(name, name)));
  if (names.includes("linear")) select.value = "linear";
}

// Panels (static/panels/<name>.js) register a loader here; refresh() runs them with the built-in
// sections, so a panel sees the same filters and is awaited before the page says it is ready.
const panels = [];
window.revline = { $, api, money, num, pct, layout, config, rows, setValue, range, filters, define, openJourney,
  register: (load) => panels.push(load) };

async function refresh() {
  $("status").textContent = "";
  await Promise.all([loadKpis(), loadTargets(), loadAttribution(), loadRoi(), loadFunnel(),
    ...panels.map((load) => load().catch((err) => { $("status").textContent = String(err.message || err); }))]);
  document.body.dataset.ready = "true";
}

window.addEventListener("DOMContentLoaded", async () => {
  try { await loadModels(); } catch (err) { $("status").textContent = String(err.message || err); }
  for (const id of ["start", "end", "model", "revenue-type", "segment", "campaign-level"])
    $(id).addEventListener("change", () => { document.body.dataset.ready = "false"; refresh(); });
  for (const id of ["by", "milestone"]) $(id).addEventListener("change", async () => {
    document.body.dataset.ready = "false"; await loadAttribution(); document.body.dataset.ready = "true"; });
  $("roi-view").addEventListener("change", showRoiView);
  $("roi-by").addEventListener("change", async () => {
    document.body.dataset.ready = "false"; await loadRoi(); document.body.dataset.ready = "true"; });
  $("account-form").addEventListener("submit", searchAccounts);
  await refresh();
});

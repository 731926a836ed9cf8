// In-market accounts: the hottest stored scores (/api/accounts/in-market) with their reasons; a click
// opens the account's journey below. /dashboard#journey=<account id> (the link in an alert) opens it
// at load. The list re-reads itself every POLL_MS while the tab is visible, as the live pipeline
// re-scores accounts touched by collected events.
"use strict";
(() => {
  const r = window.revline;
  const POLL_MS = 10000;
  const LIMIT = "10";
  let linked = false;

  function openAccount(accountId) {
    r.openJourney(accountId);
    const title = r.$("journey-title");
    if (title && title.scrollIntoView) title.scrollIntoView({ block: "start" });
  }

  function fromHash() {
    const m = window.location.hash.match(/^#journey=(.+)$/);
    if (m) openAccount(decodeURIComponent(m[1]));
  }

  function row(a) {
    const tr = document.createElement("tr");
    tr.dataset.accountId = a.account_id;
    const name = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.accountId = a.account_id;
    b.textContent = a.account_name || a.account_id;
    b.title = `Open the journey of ${a.account_id}`;
    b.addEventListener("click", () => openAccount(a.account_id));
    name.appendChild(b);
    const score = document.createElement("td");
    score.className = "score";
    score.dataset.value = String(a.score);
    score.textContent = r.pct(a.score);
    const kind = document.createElement("td");
    kind.textContent = (a.kind || "").replace("_", " ");
    const why = document.createElement("td");
    why.style.textAlign = "left";
    const ul = document.createElement("ul");
    ul.className = "reasons";
    ul.replaceChildren(...a.reasons.map((text) => { const li = document.createElement("li"); li.textContent = text; return li; }));
    why.appendChild(ul);
    const scored = document.createElement("td");
    scored.dataset.value = a.scored_at;
    scored.textContent = a.scored_at.replace("T", " ").slice(0, 16);
    tr.append(name, score, kind, why, scored);
    return tr;
  }

  async function load() {
    const d = await r.api("accounts/in-market", { limit: LIMIT });
    document.querySelector("#in-market-table tbody").replaceChildren(...d.accounts.map(row));
    r.$("in-market-empty").hidden = d.accounts.length > 0;
    r.setValue("in-market-as-of", d.as_of, d.as_of ? `(${d.scored} accounts scored, latest ${d.as_of.replace("T", " ").slice(0, 16)} UTC)` : "");
    if (!linked) { linked = true; fromHash(); }
  }

  r.register(load);
  window.addEventListener("hashchange", fromHash);
  setInterval(() => { if (!document.hidden) load().catch(() => {}); }, POLL_MS);
})();

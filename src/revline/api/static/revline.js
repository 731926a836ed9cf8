/* revline.js — page-view tracker for the revline collector (Segment-compatible /v1/page).
 *
 *   <script src="https://YOUR-REVLINE-HOST/revline.js" data-write-key="WRITE_KEY" async></script>
 *
 * Sends one page call per page load with utm_* parameters (as context.campaign), the referrer and
 * an anonymous id kept in the first-party cookie `rl_anon_id` (1 year). The write key is public by
 * design (as Segment's): it can only add events. Call `window.revline.page()` again in a SPA.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var writeKey = script.getAttribute("data-write-key");
  var endpoint = new URL(script.src, window.location.href).origin + "/v1/page";
  if (!writeKey) { console.warn("revline.js: data-write-key missing"); return; }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = (Math.random() * 16) | 0; return (c === "x" ? r : (r & 0x3) | 0x8).toString(16);
    });
  }
  function anonymousId() {
    var m = document.cookie.match(/(?:^|;\s*)rl_anon_id=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var id = uuid();
    document.cookie = "rl_anon_id=" + encodeURIComponent(id) + "; path=/; max-age=31536000; SameSite=Lax";
    return id;
  }
  function campaign(search) {
    var params = new URLSearchParams(search), out = {}, seen = false;
    ["source", "medium", "campaign", "term", "content"].forEach(function (k) {
      var v = params.get("utm_" + k);
      if (v) { out[k === "campaign" ? "name" : k] = v; seen = true; }
    });
    return seen ? out : undefined;
  }
  function page(name, properties) {
    var loc = window.location;
    var body = {
      messageId: uuid(),
      anonymousId: anonymousId(),
      timestamp: new Date().toISOString(),
      name: name || document.title || undefined,
      properties: Object.assign({ url: loc.href, path: loc.pathname, referrer: document.referrer, title: document.title,
                                  search: loc.search }, properties || {}),
      context: { page: { url: loc.href, path: loc.pathname, referrer: document.referrer, title: document.title, search: loc.search },
                 userAgent: navigator.userAgent, library: { name: "revline.js", version: "1" } }
    };
    var c = campaign(loc.search);
    if (c) body.context.campaign = c;
    return fetch(endpoint, {
      method: "POST", keepalive: true, mode: "cors", credentials: "omit",
      headers: { "Content-Type": "application/json", "Authorization": "Basic " + btoa(writeKey + ":") },
      body: JSON.stringify(body)
    }).catch(function () { /* never break the host page */ });
  }
  window.revline = { page: page, anonymousId: anonymousId };
  page();
})();

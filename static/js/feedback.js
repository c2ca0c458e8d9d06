// Verdicts on the results page and a row's page: keys (a/n/u mark the focused row, j/k move),
// and offline triage: a verdict made without a connection waits in the queue (verdict_queue.js),
// the page shows how many wait, and they are sent when the connection returns (Background
// Sync in the service worker where the browser has it, the `online` event everywhere).
(function () {
  "use strict";
  var Q = window.PynomalyVerdicts;
  if (!Q) return;
  var KINDS = { a: "anomaly", n: "normal", u: "unsure" };

  function csrf() {
    var headers = document.body.getAttribute("hx-headers");
    try { return JSON.parse(headers)["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function syncUrl() {
    var el = document.getElementById("verdict-pending");
    return el ? el.getAttribute("data-sync-url") : "";
  }

  // ---------------------------------------------------------------- the pending count
  function showPending() {
    return Q.count().then(function (n) {
      var el = document.getElementById("verdict-pending");
      if (!el) return n;
      el.hidden = n === 0;
      el.setAttribute("data-count", String(n));
      el.textContent = n === 0 ? "" : n + (n === 1 ? " verdict waits" : " verdicts wait") +
        " to be sent — " + (navigator.onLine ? "sending…" : "you are offline; they are sent when the connection returns.");
      return n;
    }).catch(function () { return 0; });
  }

  // ---------------------------------------------------------------- refreshing what the server holds
  function refresh() {
    if (!window.htmx) return;
    var table = document.getElementById("anomalies-table");
    if (table) {
      window.htmx.ajax("GET", location.pathname.replace(/\/?$/, "/") + "table/" + location.search,
        { target: "#anomalies-table", swap: "outerHTML" });
    } else if (document.getElementById("verdict-panel")) {
      window.htmx.ajax("GET", location.href, { target: "#verdict-panel", select: "#verdict-panel", swap: "outerHTML" });
    }
  }

  function sync() {
    if (!navigator.onLine) return showPending();
    return Q.count().then(function (n) {
      if (!n) return showPending();
      return Q.flush(csrf()).then(function () { refresh(); }, function () {}).then(showPending);
    });
  }

  // ---------------------------------------------------------------- queueing a verdict offline
  function markRow(form, verdict) {
    form.querySelectorAll("button.verdict-btn[data-kind]").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-kind") === verdict ? "true" : "false");
    });
    var row = form.closest("tr[data-row-id]") || form.closest("[data-verdict-cell]");
    if (row) row.setAttribute("data-pending", "");
  }

  function enqueue(form, item) {
    markRow(form, item.verdict);
    return Q.add(item).then(function () {
      if (navigator.serviceWorker && navigator.serviceWorker.ready) {
        navigator.serviceWorker.ready.then(function (reg) {
          if (reg.sync) return reg.sync.register(Q.TAG);
        }).catch(function () {});
      }
      return showPending();
    });
  }

  var seq = 0;
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-verdict-form")) return;
    var p = event.detail.parameters;
    var item = {
      uuid: Q.uuid(),
      made_at: new Date().toISOString(),
      row: Number(form.getAttribute("data-row")),
      verdict: p.verdict || "",
      note: p.note || "",
      syncUrl: syncUrl(),
      csrf: csrf(),
      seq: Date.now() * 1000 + (seq++ % 1000),
    };
    p.uuid = item.uuid;
    p.made_at = item.made_at;
    form._pendingVerdict = item;
    if (!navigator.onLine && item.syncUrl) {
      event.preventDefault();  // no request: the queue holds it
      enqueue(form, item);
    }
  });
  // The browser thought it was online but the request never got an answer: queue it too
  // (if it did arrive after all, its UUID makes the resend a no-op).
  document.addEventListener("htmx:sendError", function (event) {
    var form = event.detail.elt;
    if (form && form._pendingVerdict && form._pendingVerdict.syncUrl) enqueue(form, form._pendingVerdict);
  });

  // ---------------------------------------------------------------- keys
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.verdict-row")); }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    var key = (event.key || "").toLowerCase();
    var row = target.closest ? target.closest("tr.verdict-row") : null;
    if (key === "j" || key === "k") {
      var all = rows();
      if (!all.length) return;
      var i = all.indexOf(row);
      var next = i < 0 ? all[0] : all[Math.max(0, Math.min(all.length - 1, i + (key === "j" ? 1 : -1)))];
      next.focus();
      event.preventDefault();
      return;
    }
    if (!KINDS[key]) return;
    var scope = row || (target === document.body || target.closest("#verdict-panel") ? document.getElementById("verdict-panel") : null);
    if (!scope) return;
    var button = scope.querySelector('button.verdict-btn[data-kind="' + KINDS[key] + '"]');
    if (!button) return;
    event.preventDefault();
    button.click();
    if (row) {  // triage: on to the next row
      var list = rows();
      var after = list[list.indexOf(row) + 1];
      if (after) after.focus();
    }
  });

  // ---------------------------------------------------------------- when to send
  window.addEventListener("online", sync);
  window.addEventListener("offline", showPending);
  if (navigator.serviceWorker) {
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (event.data && event.data.type === "pynomaly-verdicts-synced") { showPending(); refresh(); }
    });
  }
  document.addEventListener("htmx:afterSettle", function () { showPending(); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", sync);
  else sync();
})();

// Pynomaly's one small page script: registers the service worker and draws Plotly charts.
// Pages work without it; it only adds offline support and charts.
(function () {
  "use strict";

  // ---------------------------------------------------------------- service worker
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function (err) {
        console.warn("Pynomaly: service worker registration failed", err);
      });
    });
  }

  // ---------------------------------------------------------------- Plotly
  // The server builds each figure; the template emits it with json_script and marks the
  // chart container with data-plotly="<id of that script element>".
  var CONFIG = { responsive: true, displaylogo: false };

  function drawCharts() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-plotly]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-plotly"));
      if (!source) return;
      try {
        var fig = JSON.parse(source.textContent);
        window.Plotly.react(el, fig.data || [], fig.layout || {}, CONFIG);
      } catch (err) {
        console.error("Pynomaly: cannot draw chart #" + el.id, err);
      }
    });
  }

  window.pynomaly = { drawCharts: drawCharts };

  // ---------------------------------------------------------------- small behaviours
  // Declared with data attributes instead of inline handlers, which the CSP forbids.
  // <input data-mirror="other-id">: typing here sets the other input to the same value.
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (!el.hasAttribute || !el.hasAttribute("data-mirror")) return;
    var other = document.getElementById(el.getAttribute("data-mirror"));
    if (other) other.value = el.value;
  });
  // <input data-select-on-focus>: focusing selects the whole value, ready to copy.
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (el.hasAttribute && el.hasAttribute("data-select-on-focus")) el.select();
  });
  // <body data-reload-when-online> (the offline page): back online, load what was asked for.
  window.addEventListener("online", function () {
    if (document.body.hasAttribute("data-reload-when-online")) location.reload();
  });

  document.addEventListener("DOMContentLoaded", function () { drawCharts(); });
  // After a swap the new figure's <script> may sit outside the swapped element, so redraw
  // every chart on the page: Plotly.react only touches what changed.
  document.addEventListener("htmx:afterSettle", function () { drawCharts(); });
  document.addEventListener("htmx:wsAfterMessage", function () { drawCharts(); });
})();

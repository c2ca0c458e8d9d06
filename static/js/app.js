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

  document.addEventListener("DOMContentLoaded", function () { drawCharts(); });
  // After a swap the new figure's <script> may sit outside the swapped element, so redraw
  // every chart on the page: Plotly.react only touches what changed.
  document.addEventListener("htmx:afterSettle", function () { drawCharts(); });
  document.addEventListener("htmx:wsAfterMessage", function () { drawCharts(); });
})();

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
  // The server builds each figure. A chart container either names the json_script element that
  // holds a small figure (data-plotly="<id>"), or carries data-figure-url: the figure's own
  // cacheable URL (apps.runs.figures), fetched here with the chart's width so the server sends
  // only the points the screen can show.
  var CONFIG = { responsive: true, displaylogo: false };

  // In the dark theme the server's figures get a dark plot area, light text and grid.
  function themed(layout) {
    if (document.documentElement.getAttribute("data-theme") !== "dark") return layout;
    var out = Object.assign({}, layout, {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#111827",
      font: Object.assign({}, layout.font || {}, { color: "#e2e8f0" }),
    });
    Object.keys(layout).forEach(function (key) {
      if (/^[xy]axis[0-9]*$/.test(key)) {
        out[key] = Object.assign({}, layout[key], { gridcolor: "#334155", zerolinecolor: "#475569" });
      }
    });
    return out;
  }

  function draw(el, fig) {
    try {
      window.Plotly.react(el, fig.data || [], themed(fig.layout || {}), CONFIG);
    } catch (err) {
      console.error("Pynomaly: cannot draw chart #" + el.id, err);
    }
  }

  // Widths in steps of 256 px (as pynomaly.screen rounds them): nearby widths share one URL,
  // so the browser's cache and the server's serve them the same figure.
  function widthStep(el) {
    var w = el.clientWidth || (el.parentElement && el.parentElement.clientWidth) || 1280;
    return Math.min(2560, Math.max(256, Math.ceil(w / 256) * 256));
  }

  function fetchAndDraw(el) {
    var base = el.getAttribute("data-figure-url");
    var url = base + (base.indexOf("?") < 0 ? "?" : "&") + "w=" + widthStep(el);
    if (el.pynomalyUrl === url) {
      if (el.pynomalyFigure) draw(el, el.pynomalyFigure); // a redraw (theme): nothing to fetch
      return;
    }
    el.pynomalyUrl = url;
    el.setAttribute("aria-busy", "true");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (fig) {
        if (el.pynomalyUrl !== url) return; // a newer figure was asked for meanwhile
        el.pynomalyFigure = fig;
        el.removeAttribute("aria-busy");
        draw(el, fig);
        el.setAttribute("data-drawn", url);
      })
      .catch(function (err) {
        if (el.pynomalyUrl !== url) return;
        el.pynomalyUrl = null; // the next swap, reload or retry tries again
        el.removeAttribute("aria-busy");
        var offline = !navigator.onLine || err instanceof TypeError; // fetch: network failure
        el.textContent = offline
          ? "This chart needs the server, which cannot be reached (you may be offline). "
          : "This chart could not be loaded (" + err.message + "). ";
        var retry = document.createElement("button");
        retry.type = "button";
        retry.className = "btn btn-secondary";
        retry.textContent = "Retry";
        retry.addEventListener("click", function () { retryChart(el); });
        el.appendChild(retry);
        el.classList.add("p-6", "text-sm", "text-slate-500");
        el.setAttribute("data-chart-failed", "");
        console.warn("Pynomaly: cannot load chart #" + el.id, err.message);
      });
  }

  function retryChart(el) {
    el.removeAttribute("data-chart-failed");
    el.classList.remove("p-6", "text-sm", "text-slate-500");
    el.textContent = "";
    fetchAndDraw(el);
  }
  // Back online, every chart that could not be fetched tries again by itself.
  window.addEventListener("online", function () {
    document.querySelectorAll("[data-chart-failed]").forEach(retryChart);
  });

  function drawCharts() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-plotly]").forEach(function (el) {
      if (el.hasAttribute("data-figure-url")) return fetchAndDraw(el);
      var source = document.getElementById(el.getAttribute("data-plotly"));
      if (!source) return;
      try {
        draw(el, JSON.parse(source.textContent));
      } catch (err) {
        console.error("Pynomaly: cannot draw chart #" + el.id, err);
      }
    });
  }

  // Plotly (about 2 MB) is loaded by this script, not by a <script> tag: after the page's first
  // paint, and only when it has a chart. Pages name it with <link rel="prefetch" id="plotly-src">
  // (fetched at idle priority, then taken from the cache); the overview with data-plotly-src.
  // It is run (about a second of a phone's main thread) only once a chart comes within half a
  // screen's height of the viewport: a reader of the page's top pays nothing for the charts.
  var nearObserver = null;
  function loadPlotlyWhenNear() {
    if (window.Plotly || document.getElementById("plotly-loader")) return;
    var charts = document.querySelectorAll("[data-plotly], [data-live-chart]");
    if (!charts.length) return;
    if (!("IntersectionObserver" in window)) return loadPlotly();
    if (nearObserver) nearObserver.disconnect();
    nearObserver = new IntersectionObserver(function (entries) {
      if (!entries.some(function (entry) { return entry.isIntersecting; })) return;
      nearObserver.disconnect();
      nearObserver = null;
      loadPlotly();
    }, { rootMargin: "50% 0px" });
    charts.forEach(function (el) { nearObserver.observe(el); });
  }
  function loadPlotly() {
    if (window.Plotly || document.getElementById("plotly-loader")) return;
    if (!document.querySelector("[data-plotly], [data-live-chart]")) return;
    var link = document.getElementById("plotly-src");
    var holder = document.querySelector("[data-plotly-src]");
    var src = (link && link.href) || (holder && holder.getAttribute("data-plotly-src"));
    if (!src) return;
    var s = document.createElement("script");
    s.id = "plotly-loader";
    s.src = src;
    s.onload = function () {
      drawCharts();
      document.dispatchEvent(new CustomEvent("pynomaly:plotly"));
    };
    document.head.appendChild(s);
  }
  function afterFirstPaint(fn) {
    if (window.requestAnimationFrame) {
      window.requestAnimationFrame(function () { setTimeout(fn, 0); });
    } else {
      setTimeout(fn, 0);
    }
  }

  window.pynomaly = { drawCharts: drawCharts, loadPlotly: loadPlotly, loadPlotlyWhenNear: loadPlotlyWhenNear };

  // ---------------------------------------------------------------- small behaviours
  // Declared with data attributes instead of inline handlers, which the CSP forbids.
  // <input data-mirror="other-id">: typing here sets the other input to the same value.
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (!el.hasAttribute || !el.hasAttribute("data-mirror")) return;
    var other = document.getElementById(el.getAttribute("data-mirror"));
    if (other) other.value = el.value;
  });
  // <input type=range data-stops="<json_script id>" data-stops-target="<number input id>">:
  // the slider picks a stop ({threshold, flagged}); the threshold goes into the number box
  // (which the preview request reads). Typing a threshold moves the slider to its stop.
  var stopsCache = {};
  function stopsOf(slider) {
    var id = slider.getAttribute("data-stops");
    if (!stopsCache[id]) {
      var source = document.getElementById(id);
      stopsCache[id] = source ? JSON.parse(source.textContent) : [];
    }
    return stopsCache[id];
  }
  function describeStop(slider, stop) {
    slider.setAttribute("aria-valuetext", stop.flagged.toLocaleString() + " rows flagged");
  }
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (!el.hasAttribute) return;
    if (el.hasAttribute("data-stops")) {
      var stop = stopsOf(el)[Number(el.value)];
      var box = document.getElementById(el.getAttribute("data-stops-target"));
      if (stop && box) {
        box.value = String(stop.threshold);
        describeStop(el, stop);
      }
    } else if (el.hasAttribute("data-stops-slider")) {
      var slider = document.getElementById(el.getAttribute("data-stops-slider"));
      var t = Number(el.value);
      if (!slider || el.value === "" || !isFinite(t)) return;
      var stops = stopsOf(slider), best = 0;
      for (var i = 0; i < stops.length; i++) {
        if (Math.abs(stops[i].threshold - t) < Math.abs(stops[best].threshold - t)) best = i;
      }
      slider.value = String(best);
      if (stops[best]) describeStop(slider, stops[best]);
    }
  });
  // <input data-select-on-focus>: focusing selects the whole value, ready to copy.
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (el.hasAttribute && el.hasAttribute("data-select-on-focus")) el.select();
  });
  // ---------------------------------------------------------------- no connection
  // An HTMX request that cannot reach the server (offline, server down) would leave the old
  // numbers on screen as if they were current. Say so, mark what is stale, offer a retry of
  // exactly that request; a later successful swap clears it.
  var failed = null; // {elt, verb, path, target}
  function notice() { return document.getElementById("connection-notice"); }
  function showNotice(text) {
    var box = notice();
    if (!box) return;
    if (text) box.querySelector("[data-connection-text]").textContent = text;
    box.hidden = false;
  }
  function clearStale() {
    document.querySelectorAll("[data-stale]").forEach(function (el) {
      el.removeAttribute("data-stale");
      el.removeAttribute("aria-busy");
    });
    var box = notice();
    if (box) box.hidden = true;
    failed = null;
  }
  document.addEventListener("htmx:sendError", function (event) {
    var d = event.detail || {};
    var cfg = d.requestConfig || {};
    var target = d.target || cfg.target;
    failed = { elt: d.elt || cfg.elt, verb: (cfg.verb || "get").toUpperCase(), path: cfg.path, target: target };
    if (target && target.setAttribute) target.setAttribute("data-stale", "");
    showNotice(navigator.onLine
      ? "The server cannot be reached. What is shown is from before."
      : "This needs the server, and you are offline. What is shown is from before.");
  });
  document.addEventListener("htmx:afterSwap", function () { if (failed || document.querySelector("[data-stale]")) clearStale(); });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-connection-retry]");
    if (!button) return;
    var again = failed;
    if (again && again.elt && window.htmx && document.body.contains(again.elt)) {
      // the same request, from the same element (its hx-include and hx-swap apply)
      window.htmx.ajax(again.verb, again.path, { source: again.elt, target: again.target });
    } else {
      location.reload();
    }
  });
  window.addEventListener("online", function () {
    if (failed) showNotice("You are back online: retry to bring what is shown up to date.");
  });
  window.addEventListener("offline", function () {
    if (failed) showNotice("This needs the server, and you are offline. What is shown is from before.");
  });

  // <body data-reload-when-online> (the offline page): back online, load what was asked for.
  window.addEventListener("online", function () {
    if (document.body.hasAttribute("data-reload-when-online")) location.reload();
  });

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    afterFirstPaint(loadPlotlyWhenNear);
  });
  // After a swap the new figure's <script> may sit outside the swapped element, so redraw
  // every chart on the page: Plotly.react only touches what changed.
  document.addEventListener("htmx:afterSettle", function () { drawCharts(); loadPlotlyWhenNear(); });
  document.addEventListener("htmx:wsAfterMessage", function () { drawCharts(); });
  document.addEventListener("pynomaly:theme", function () { drawCharts(); });
})();

// A stream's live chart, figures and latest anomalies, fed by the stream's WebSocket. Used by the
// stream's page (#stream-live) and by each stream widget of the overview: every element with
// data-stream-live="<ws path>" gets one controller. The server sends the stored state first on
// every (re)connect ("reset": true), then the processor's messages; a dropped socket is reopened
// with backoff, and the state it missed comes back with the next reset.
//
// Inside the root, what is updated is found by data attributes, so several streams can share a
// page: [data-live-chart] (the Plotly chart), [data-stat="<key of the stats message>"],
// [data-live-connection], [data-live-anomalies] (a <tbody>; data-limit rows at most).
// The chart is decimated to about two points per pixel of its width (per slice the lowest and
// the highest score, flagged if any point of the slice was), so a long window stays light.
(function () {
  "use strict";

  var WINDOW_MS = 10 * 60 * 1000;  // what the chart keeps (the server's reset sends as much)
  var MAX_POINTS = 2400;           // at most two points per second of the window
  var controllers = [];

  function fmt(x, digits) {
    return typeof x === "number" ? x.toFixed(digits) : "—";
  }

  // At most ``budget`` points: the slices' lowest and highest scores in time order.
  function decimate(points, budget) {
    if (points.length <= budget) return points;
    var slices = Math.max(1, Math.floor(budget / 2));
    var size = points.length / slices, out = [];
    for (var s = 0; s < slices; s++) {
      var from = Math.floor(s * size), to = Math.min(points.length, Math.floor((s + 1) * size));
      if (to <= from) continue;
      var lo = points[from], hi = points[from], flagged = 0;
      for (var i = from; i < to; i++) {
        if (points[i][1] < lo[1]) lo = points[i];
        if (points[i][1] > hi[1]) hi = points[i];
        if (points[i][2]) flagged = 1;
      }
      // the highest carries the slice's flag (flagged points are the high ones)
      var low = [lo[0], lo[1], lo[2] ? 1 : 0], high = [hi[0], hi[1], flagged];
      if (lo === hi) out.push(high);
      else if (lo[0] <= hi[0]) out.push(low, high);
      else out.push(high, low);
    }
    return out;
  }

  function badge(status, error) {
    var span = document.createElement("span");
    span.className = "rounded px-2 py-0.5 text-xs font-medium ";
    if (status === "paused") { span.className += "bg-slate-100 text-slate-700"; span.textContent = "Paused"; }
    else if (error) { span.className += "bg-red-50 text-red-800"; span.textContent = "Error"; span.title = error; }
    else { span.className += "bg-green-50 text-green-800"; span.textContent = "Active"; }
    span.setAttribute("data-status", status === "paused" ? "paused" : (error ? "error" : "active"));
    return span;
  }

  function cell(text, cls, wrap) {
    var td = document.createElement("td");
    td.className = "px-2 py-1 " + (cls || "");
    if (wrap) td.style.overflowWrap = "anywhere";
    td.textContent = text;
    return td;
  }

  function Controller(root) {
    this.root = root;
    this.chart = root.querySelector("[data-live-chart]");
    this.points = [];   // [epoch_ms, score, flagged]
    this.threshold = null;
    this.retry = 1000;
    this.socket = null;
    this.stopped = false;
    this.ping = null;
  }

  Controller.prototype.find = function (selector) {
    return this.root.querySelector(selector);
  };

  Controller.prototype.setText = function (selector, text) {
    var el = this.find(selector);
    if (el) el.textContent = text;
  };

  Controller.prototype.draw = function () {
    var chart = this.chart;
    if (!window.Plotly || !chart || !chart.isConnected) return;
    var budget = Math.max(100, 2 * Math.round(chart.clientWidth || 600));
    var drawn = decimate(this.points, budget);
    var xs = [], ys = [], fx = [], fy = [];
    drawn.forEach(function (p) {
      var t = new Date(p[0]);
      xs.push(t); ys.push(p[1]);
      if (p[2]) { fx.push(t); fy.push(p[1]); }
    });
    var data = [
      { x: xs, y: ys, type: "scatter", mode: "lines", name: "score", line: { color: "#4f46e5", width: 1 } },
      { x: fx, y: fy, type: "scatter", mode: "markers", name: "flagged", marker: { color: "#dc2626", size: 6 } }
    ];
    var threshold = this.threshold;
    var shapes = threshold === null ? [] : [{
      type: "line", xref: "paper", x0: 0, x1: 1, y0: threshold, y1: threshold,
      line: { color: "#dc2626", dash: "dash", width: 1 }
    }];
    var layout = {
      margin: { l: 40, r: 10, t: 10, b: 30 }, showlegend: false, shapes: shapes,
      xaxis: { type: "date" }, yaxis: { title: { text: "" } },
      height: Number(chart.getAttribute("data-height")) || 300
    };
    window.Plotly.react(chart, data, layout, { responsive: true, displaylogo: false });
    chart.setAttribute("data-points", String(this.points.length));
    chart.setAttribute("data-drawn", String(drawn.length));
    chart.setAttribute("data-threshold", threshold === null ? "" : String(threshold));
  };

  Controller.prototype.addPoints = function (list, reset) {
    var points = reset ? [] : this.points;
    (list || []).forEach(function (p) { points.push(p); });
    points.sort(function (a, b) { return a[0] - b[0]; });
    if (points.length) {
      var since = points[points.length - 1][0] - WINDOW_MS;
      points = points.filter(function (p) { return p[0] >= since; });
    }
    if (points.length > MAX_POINTS) points = points.slice(points.length - MAX_POINTS);
    this.points = points;
  };

  Controller.prototype.stats = function (s) {
    if (!s) return;
    var self = this;
    if (s.status !== undefined) {
      var el = this.find('[data-stat="status"]');
      if (el) { el.textContent = ""; el.appendChild(badge(s.status, s.error)); }
    }
    if (s.records_per_second !== undefined) this.setText('[data-stat="records_per_second"]', fmt(s.records_per_second, 1));
    if (s.lag !== undefined) this.setText('[data-stat="lag"]', s.lag === null ? "—" : String(s.lag));
    ["records_total", "anomalies_total", "dead_letters_total"].forEach(function (k) {
      if (s[k] !== undefined) self.setText('[data-stat="' + k + '"]', String(s[k]));
    });
    if (s.last_record_at) this.setText('[data-stat="last_record_at"]', new Date(s.last_record_at).toLocaleTimeString());
    var drift = this.find('[data-stat="drift"]');
    if (s.drift && drift) {
      drift.textContent = "";
      Object.keys(s.drift).filter(function (c) { return s.drift[c]; }).forEach(function (c) {
        var tag = document.createElement("span");
        tag.className = "mr-1 rounded bg-amber-50 px-1.5 py-0.5 text-xs text-amber-800";
        tag.setAttribute("data-drift", c);
        tag.textContent = c;
        drift.appendChild(tag);
      });
      if (!drift.childNodes.length) drift.textContent = "—";
    }
  };

  Controller.prototype.anomalies = function (list, reset) {
    var body = this.find("[data-live-anomalies]");
    if (!body || !list) return;
    var limit = Number(body.getAttribute("data-limit")) || 10;
    var columns = body.closest("table").querySelectorAll("thead th").length || 4;
    if (reset) body.textContent = "";
    var empty = body.querySelector("[data-empty]");
    if (empty && list.length) empty.remove();
    // Oldest first, each inserted at the top: the newest ends up first.
    list.slice().reverse().forEach(function (a) {
      if (body.querySelector('[data-anomaly="' + a.id + '"]')) return;
      var tr = document.createElement("tr");
      tr.setAttribute("data-anomaly", String(a.id));
      var reasons = (a.reasons || []).map(function (r) { return r.column + "=" + r.value; }).join("; ");
      tr.appendChild(cell(new Date(a.event_time).toLocaleTimeString(), "whitespace-nowrap"));
      tr.appendChild(cell(a.event_id, "font-mono text-xs", true));
      tr.appendChild(cell(fmt(a.score, 3), "tabular-nums"));
      if (columns > 3) tr.appendChild(cell(reasons, "", true));
      body.insertBefore(tr, body.firstChild);
    });
    var rows = body.querySelectorAll("[data-anomaly]");
    for (var i = limit; i < rows.length; i++) rows[i].remove();
    if (!rows.length && reset) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-empty", "");
      var td = cell("No anomaly yet.", "text-slate-600");
      td.colSpan = columns;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  };

  Controller.prototype.onMessage = function (event) {
    var msg;
    try { msg = JSON.parse(event.data); } catch (err) { return; }  // "pong"
    if (msg.threshold !== undefined && msg.threshold !== null) this.threshold = msg.threshold;
    this.addPoints(msg.points, msg.reset);
    this.stats(msg.stats);
    this.anomalies(msg.anomalies, msg.reset);
    this.draw();
    var root = this.root;
    root.setAttribute("data-messages", String(Number(root.getAttribute("data-messages") || 0) + 1));
  };

  Controller.prototype.connect = function () {
    if (this.stopped) return;
    var self = this, root = this.root;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + root.getAttribute("data-stream-live"));
    this.socket = socket;
    socket.onopen = function () {
      self.retry = 1000;
      self.setText("[data-live-connection]", "live");
      root.setAttribute("data-connected", "true");
      self.ping = setInterval(function () { socket.send("ping"); }, 25000);
    };
    socket.onmessage = function (event) { self.onMessage(event); };
    socket.onclose = function () {
      root.setAttribute("data-connected", "false");
      if (self.ping) clearInterval(self.ping);
      if (self.stopped) return;
      self.setText("[data-live-connection]", "reconnecting…");
      setTimeout(function () { self.connect(); }, self.retry);
      self.retry = Math.min(self.retry * 2, 30000);
    };
  };

  // The socket of a root that left the page (an overview rearranged by HTMX) is closed for good.
  Controller.prototype.stop = function () {
    this.stopped = true;
    if (this.ping) clearInterval(this.ping);
    if (this.socket) this.socket.close();
  };

  function sync() {
    controllers = controllers.filter(function (c) {
      if (c.root.isConnected) return true;
      c.stop();
      return false;
    });
    document.querySelectorAll("[data-stream-live]").forEach(function (root) {
      if (root.hasAttribute("data-live-started")) return;
      root.setAttribute("data-live-started", "");
      var c = new Controller(root);
      controllers.push(c);
      c.draw();
      c.connect();
    });
    // The stream page's one controller, for tests and the console (socket follows reconnects).
    window.pynomalyStream = controllers.length === 1 ? controllers[0] : null;
  }

  window.pynomalyLive = {
    sync: sync,
    redraw: function () { controllers.forEach(function (c) { c.draw(); }); },
    controllers: function () { return controllers.slice(); },
    decimate: decimate
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", sync);
  else sync();
  document.addEventListener("htmx:afterSettle", sync);
  document.addEventListener("pynomaly:plotly", function () { window.pynomalyLive.redraw(); });
})();

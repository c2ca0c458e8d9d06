// The trace types Pynomaly's charts use (apps/*/charts.py), nothing else. scattergl comes in
// its strict variant (pre-compiled shaders): the page CSP forbids eval / new Function.
"use strict";

var Plotly = require("plotly.js/lib/core"); // registers scatter

Plotly.register([
  require("plotly.js/lib/bar"),
  require("plotly.js/lib/histogram"),
  require("plotly.js/lib/heatmap"),
  require("plotly.js/lib/box"),
  require("plotly.js/lib/waterfall"),
  require("plotly.js/src/traces/scattergl/strict"),
]);

module.exports = Plotly;

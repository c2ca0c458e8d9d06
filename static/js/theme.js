// The colour theme, applied before the page paints (loaded without defer in <head>):
// the saved choice ("light" / "dark"), or the system's prefers-color-scheme when none.
// <button data-theme-toggle> cycles system -> dark -> light; styles.css holds the dark palette.
(function () {
  "use strict";
  var KEY = "pynomaly-theme";
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  var NEXT = { system: "dark", dark: "light", light: "system" };
  var LABEL = { system: "Theme: system", dark: "Theme: dark", light: "Theme: light" };

  function choice() {
    try {
      var saved = window.localStorage.getItem(KEY);
      return saved === "light" || saved === "dark" ? saved : "system";
    } catch (err) {
      return "system"; // storage refused (private mode): follow the system
    }
  }

  function apply() {
    var chosen = choice();
    var dark = chosen === "dark" || (chosen === "system" && !!media && media.matches);
    var root = document.documentElement;
    root.setAttribute("data-theme", dark ? "dark" : "light");
    root.setAttribute("data-theme-choice", chosen);
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      var label = button.querySelector("[data-theme-label]");
      if (label) label.textContent = LABEL[chosen];
      button.setAttribute("aria-label", LABEL[chosen] + " (activate for " + NEXT[chosen] + ")");
    });
    document.dispatchEvent(new CustomEvent("pynomaly:theme", { detail: { dark: dark } }));
  }

  apply();
  if (media && media.addEventListener) media.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", apply);
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-theme-toggle]");
    if (!button) return;
    var next = NEXT[choice()];
    try {
      if (next === "system") window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, next);
    } catch (err) {
      /* not saved: this page still switches */
    }
    apply();
  });
})();

// Night mode: follows the device unless the reader chose; the choice is remembered.
// A classic script in <head>, so the page is painted in the right colours from the start.
(function () {
  "use strict";
  var KEY = "zaiban.theme";
  var root = document.documentElement;
  function stored() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function prefersDark() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  function isDark() {
    var chosen = stored();
    return chosen ? chosen === "dark" : prefersDark();
  }
  function apply() {
    root.dataset.theme = isDark() ? "dark" : "light";
    var button = document.getElementById("theme-toggle");
    if (button) button.setAttribute("aria-pressed", String(isDark()));
  }
  apply();
  document.addEventListener("DOMContentLoaded", function () {
    apply();
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", function () {
      try { localStorage.setItem(KEY, isDark() ? "light" : "dark"); } catch (e) { /* private mode */ }
      apply();
    });
  });
})();

// The dashboard's map of cases, a block of its own: public cases by category and status
// (casemap.js), the list of them a link away.

import { config, h, t } from "./app.js";
import { showCaseMap } from "./casemap.js";

const STATUSES = ["submitted", "accepted", "awaiting_dispatch", "routed", "acknowledged",
  "resolved", "closed", "rejected", "merged"];
const view = { element: "dash-map", count: "dash-map-count" };

function params() {
  const asked = new URLSearchParams();
  for (const name of ["category", "status"]) {
    const value = document.getElementById(`dash-map-${name}`).value;
    if (value) asked.set(name, value);
  }
  return asked;
}

function start() {
  const category = document.getElementById("dash-map-category");
  for (const item of config.city.categories) {
    category.appendChild(h("option", { value: item.code }, `${item.icon} ${item.name}`));
  }
  const status = document.getElementById("dash-map-status");
  for (const code of STATUSES) status.appendChild(h("option", { value: code }, t(`status.${code}`)));
  const form = document.getElementById("dash-map-filters");
  form.addEventListener("change", () => showCaseMap(view, params()));
  form.addEventListener("submit", (event) => event.preventDefault());
  showCaseMap(view, params()).then(() => {
    form.dataset.ready = "true";
  });
}

start();

// The public list of cases: search words, status, category, district, department. The filters
// live in the address (so a search can be shared); results come from the public API only.
// The Atom feeds of what the list is narrowed to follow the filters (in the head, for feed
// readers, and as links to subscribe; the server writes the same ones first).

import {
  api, categoryOf, config, failure, formatDate, h, lang, placeLine, replace, statusPill, t,
  withLang,
} from "./app.js";
import { showCaseMap } from "./casemap.js";

const STATUSES = ["submitted", "accepted", "awaiting_dispatch", "routed", "acknowledged",
  "resolved", "closed", "rejected", "merged"];
const PAGE = 20;
const FILTERS = ["q", "status", "category", "district", "department"];
// a filter, the feeds' word for it in their addresses, and where its names are
const FEED_SCOPES = [["district", "districts"], ["category", "categories"],
  ["department", "departments"]];

const form = document.getElementById("search-form");
const mapView = { element: "cases-map", count: "cases-map-count" };
const results = document.getElementById("results");
const count = document.getElementById("result-count");
const more = document.getElementById("more");
// the cursor of the next page: stable while new cases arrive (`next` of the list)
let nextAfter = null;

function fillFilters() {
  const status = document.getElementById("status");
  for (const code of STATUSES) status.appendChild(h("option", { value: code }, t(`status.${code}`)));
  const category = document.getElementById("category");
  for (const item of config.city.categories) {
    category.appendChild(h("option", { value: item.code }, `${item.icon} ${item.name}`));
  }
  const district = document.getElementById("district");
  for (const item of config.city.districts) district.appendChild(h("option", { value: item.code }, item.name));
  const department = document.getElementById("department");
  for (const item of config.city.departments) department.appendChild(h("option", { value: item.code }, item.name));
  const params = new URLSearchParams(location.search);
  for (const name of FILTERS) {
    const control = document.getElementById(name);
    if (params.get(name)) control.value = params.get(name);
  }
}

function query(after) {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = document.getElementById(name).value.trim();
    if (value) params.set(name, value);
  }
  params.set("limit", String(PAGE));
  if (after) params.set("after", after);
  return params;
}

function row(item) {
  const category = categoryOf(item.category && item.category.code);
  return h("li", { class: "case-row" },
    h("a", { href: `/cases/${encodeURIComponent(item.case_id)}`, class: "case-link" },
      h("span", { class: "case-icon", "aria-hidden": "true" }, category.icon || ""),
      h("span", { class: "case-main" },
        h("span", { class: "case-line" },
          h("strong", {}, item.category ? item.category.name : ""),
          " ", statusPill(item.status)),
        h("span", { class: "case-description" }, item.description),
        h("span", { class: "case-meta" },
          [item.case_id, placeLine(item.location) || (item.district && item.district.name),
            formatDate(item.submitted_at)].filter(Boolean).join(" · ")),
        item.last_entry ? h("span", { class: "case-last" }, item.last_entry.text) : null)));
}

/** The feeds of what the list is narrowed to, then the city's (as pages.py `feed_links`). */
function feeds() {
  const areas = [];
  for (const [name, scope] of FEED_SCOPES) {
    const code = document.getElementById(name).value;
    const item = config.city[scope].find((each) => each.code === code);
    if (item) areas.push([`/feeds/${scope}/${encodeURIComponent(code)}`, item.name]);
  }
  areas.push(["/feeds", config.city.name]);
  return areas.flatMap(([path, area]) => ["new", "resolved"].map((kind) => ({
    href: `${path}/${kind}.atom?lang=${encodeURIComponent(config.lang)}`,
    title: t(`feeds.${kind}`, { area }),
  })));
}

function showFeeds() {
  const shown = feeds();
  for (const old of document.head.querySelectorAll('link[rel="alternate"][type="application/atom+xml"]')) old.remove();
  for (const feed of shown) {
    document.head.appendChild(h("link", { rel: "alternate", type: "application/atom+xml", title: feed.title, href: feed.href }));
  }
  const list = document.querySelector("#feeds .feeds-list");
  if (!list) return;
  replace(list);
  for (const feed of shown) {
    list.appendChild(h("li", {}, h("a", { href: feed.href, type: "application/atom+xml" }, feed.title)));
  }
}

async function search(after = null) {
  const params = query(after);
  const first = after === null;
  if (first) {
    const shown = new URLSearchParams(params);
    shown.delete("limit");
    history.replaceState(null, "", `/cases${shown.toString() ? `?${shown}` : ""}`);
    showFeeds();
    count.textContent = t("common.loading");
  }
  if (first) showCaseMap(mapView, params);
  const answer = await api(withLang(`/api/cases?${params}`));
  if (!answer.ok) {
    count.textContent = failure(answer);
    return;
  }
  const page = answer.data;
  if (first) replace(results);
  for (const item of page.items) results.appendChild(row(item));
  count.textContent = page.total === 0 ? t("cases.none") : t("cases.count", { count: page.total });
  nextAfter = page.next;
  more.hidden = nextAfter === null || nextAfter === undefined;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  search();
});
for (const name of ["status", "category", "district", "department"]) {
  document.getElementById(name).addEventListener("change", () => search());
}
more.addEventListener("click", () => search(nextAfter));

// --- area alerts: the new and resolved cases of a district or a category, by email ---------
// (services/notify/subscriptions.py: the address gets a link to confirm first)

const alertsForm = document.getElementById("alerts-form");
const alertsArea = document.getElementById("alerts-area");
const alertsStatus = document.getElementById("alerts-status");

function fillAlertAreas() {
  const group = (label, kind, items) => h("optgroup", { label },
    ...items.map((item) => h("option", { value: `${kind}:${item.code}` }, item.name)));
  alertsArea.append(group(t("cases.district"), "district", config.city.districts),
    group(t("cases.category"), "category", config.city.categories));
  const params = new URLSearchParams(location.search);
  if (params.get("district")) alertsArea.value = `district:${params.get("district")}`;
  else if (params.get("category")) alertsArea.value = `category:${params.get("category")}`;
}

alertsForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = document.getElementById("alerts-email").value.trim();
  if (!email.includes("@")) {
    alertsStatus.textContent = t("error.email");
    return;
  }
  const [kind, code] = alertsArea.value.split(":");
  alertsStatus.textContent = t("common.sending");
  const answer = await api("/api/notify/subscriptions", {
    method: "POST", body: { email, [kind]: code, language: lang },
  });
  if (answer.ok) alertsStatus.textContent = t("alerts.check_email");
  else if (answer.status === 503) alertsStatus.textContent = t("alerts.unavailable");
  else if (answer.status === 422) alertsStatus.textContent = t("error.email");
  else alertsStatus.textContent = failure(answer);
});

fillAlertAreas();
fillFilters();
search().then(() => {
  form.dataset.ready = "true";
});

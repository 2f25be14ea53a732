// The staff console. Sign in by pasting a token (kept for this browser tab only, in
// sessionStorage); the views and the actions on each case follow the token's role:
// officers triage (accept, reject, merge duplicates, route by hand), departments work their
// inbox (acknowledge, note progress, return, resolve), supervisors and reporters the
// supervision board (assign a reporter, reassign, escalate, settle a resident's dispute; site
// visits and stories); officers and supervisors enter hotline calls (`hotline.js`);
// supervisors and admins also see the cases that fail to reach a department's webhook.
// Inside a department the inbox is sorted by deadline (late cases on top) with each case's
// handler; its coordinator (a token with `coord`), a supervisor or an admin gives a case to a
// handler; a handler narrows the inbox to their own ("only mine"); reporters have "my cases".
// The resident's contact and photos show in a case's details to those who handle it: that
// read (GET /api/staff/cases/{id}) is the audited one; the server withholds them from others.
// The server checks every command again; the console only leaves out what would be refused.

import {
  api, categoryOf, clearErrors, config, failure, formatDateTime, h, localMedia, placeLine, replace,
  serverDetail, showFieldError, statusPill, t, tOr, toast, withLang,
} from "./app.js";
import { startHotline } from "./hotline.js";
import { startStaffMap } from "./staffmap.js";
import { loadCity, startCity } from "./city.js";

const TOKEN_KEY = "zaiban.staff_token";
const REFRESH_MS = 15000;
const LIST_LIMIT = 50;

const VIEWS = {
  officer: ["triage", "hotline", "search"],
  department: ["inbox", "search"],
  supervisor: ["supervision", "triage", "inbox", "hotline", "webhooks", "search"],
  reporter: ["supervision", "search", "mine"],
  admin: ["triage", "inbox", "supervision", "hotline", "webhooks", "search", "city"],
};
const FORMS = ["hotline", "city"]; // views that are a form, not a list of cases

const AFTER_ACCEPTANCE = ["accepted", "awaiting_dispatch", "routed", "acknowledged", "resolved"];
const WITH_DEPARTMENT = ["routed", "acknowledged"];

// Who may do what, and when (the same table as routing's `handling.ROLES` and intake's triage).
const ACTIONS = {
  accept: { roles: ["officer", "supervisor"], statuses: ["submitted"] },
  reject: { roles: ["officer", "supervisor"], statuses: ["submitted"] },
  duplicates: { roles: ["officer", "supervisor"], statuses: ["submitted"] },
  route: { roles: ["officer", "reporter", "supervisor"], statuses: ["accepted", "awaiting_dispatch"] },
  acknowledge: { roles: ["department"], statuses: ["routed"], own: true },
  progress: { roles: ["department", "officer", "reporter", "supervisor"], statuses: AFTER_ACCEPTANCE },
  return: { roles: ["department"], statuses: WITH_DEPARTMENT, own: true },
  resolve: { roles: ["department", "reporter", "supervisor"], statuses: WITH_DEPARTMENT, own: true },
  reporter: { roles: ["officer", "supervisor"], statuses: AFTER_ACCEPTANCE },
  reassign: { roles: ["supervisor"], statuses: ["awaiting_dispatch", "routed", "acknowledged"] },
  escalate: { roles: ["supervisor"], statuses: AFTER_ACCEPTANCE, notEscalated: true },
  settle: { roles: ["supervisor"], statuses: ["resolved"], disputed: true },
  visit: { roles: ["reporter"], statuses: AFTER_ACCEPTANCE },
  story: { roles: ["reporter"], statuses: AFTER_ACCEPTANCE },
  handler: { roles: ["department", "supervisor"], statuses: WITH_DEPARTMENT, own: true, coordinator: true },
};

let token = null;
let me = null;
let view = null;
let searchText = "";
const lists = {}; // view -> items last shown

// --- signing in --------------------------------------------------------------------------------------

/** The token's claims (who, role, department), read without checking: the server checks. */
function claims(text) {
  const parts = text.trim().split(".");
  if (parts.length !== 3 || parts[0] !== "zb1") return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const body = JSON.parse(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)));
    if (!body.role || !VIEWS[body.role]) return null;
    return { subject: body.sub, role: body.role, department: body.dept || null, expires: body.exp, coordinator: body.coord === true };
  } catch (error) {
    return null;
  }
}

async function signIn(text, { remembered = false } = {}) {
  const form = document.getElementById("signin-form");
  clearErrors(form);
  const wrapper = form.querySelector("[data-where=token]");
  const found = claims(text);
  if (!found) {
    if (!remembered) showFieldError(wrapper, t(text.trim() ? "error.token_shape" : "error.token_missing"));
    return false;
  }
  token = text.trim();
  const answer = await staffApi("/api/staff/cases?limit=1", { quiet: true });
  if (!answer.ok) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn();
    showFieldError(wrapper, answer.status === 401 ? t("error.token_refused") : failure(answer));
    return false;
  }
  me = found;
  sessionStorage.setItem(TOKEN_KEY, token);
  showConsole();
  return true;
}

function signOut(message) {
  token = null;
  me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn();
  if (message) showFieldError(document.querySelector("#signin-form [data-where=token]"), message);
}

function showSignIn() {
  document.getElementById("console").hidden = true;
  document.getElementById("signin").hidden = false;
  document.getElementById("token").value = "";
}

function showConsole() {
  document.getElementById("signin").hidden = true;
  document.getElementById("console").hidden = false;
  const role = tOr(me.coordinator ? "staffrole.coordinator" : `staffrole.${me.role}`, me.role);
  const who = me.department
    ? t("staff.whoami_department", { subject: me.subject, role, department: departmentLabel(me.department) })
    : t("staff.whoami", { subject: me.subject, role });
  document.getElementById("whoami").textContent = who;
  const mine = VIEWS[me.role];
  for (const tab of document.querySelectorAll("[role=tab]")) tab.hidden = !mine.includes(tab.dataset.view);
  const select = document.getElementById("inbox-department");
  document.getElementById("inbox-department-field").hidden = me.role === "department";
  document.getElementById("inbox-mine-field").hidden = me.role !== "department";
  if (!select.options.length) {
    for (const d of config.city.departments) select.appendChild(h("option", { value: d.code }, d.name));
  }
  choose(mine[0]);
  refreshAll();
}

function departmentLabel(code) {
  const found = config.city.departments.find((d) => d.code === code);
  return found ? found.name : code;
}

// --- talking to the API with the token ---------------------------------------------------------------

async function staffApi(path, { method = "GET", body, headers = {}, quiet = false } = {}) {
  const answer = await api(method === "GET" ? withLang(path) : path, {
    method, body, headers: { ...headers, Authorization: `Bearer ${token}` },
  });
  if (answer.status === 401 && !quiet) signOut(t("error.token_expired"));
  return answer;
}

// --- tabs ----------------------------------------------------------------------------------------------

function choose(name) {
  view = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  if (name === "city") loadCity();
}

function tabKeys(event) {
  const tabs = [...document.querySelectorAll("[role=tab]")].filter((tab) => !tab.hidden);
  const at = tabs.indexOf(document.activeElement);
  if (at < 0) return;
  let next = null;
  if (event.key === "ArrowRight") next = tabs[(at + 1) % tabs.length];
  if (event.key === "ArrowLeft") next = tabs[(at - 1 + tabs.length) % tabs.length];
  if (event.key === "Home") next = tabs[0];
  if (event.key === "End") next = tabs[tabs.length - 1];
  if (next) {
    event.preventDefault();
    choose(next.dataset.view);
    next.focus();
  }
}

// --- the lists -----------------------------------------------------------------------------------------

function queriesFor(name) {
  const base = `limit=${LIST_LIMIT}`;
  // new cases, and accepted ones no dispatch rule sent anywhere (or returned by everyone)
  if (name === "triage") return [`/api/staff/cases?status=submitted&status=accepted&status=awaiting_dispatch&${base}`];
  if (name === "inbox") {
    const department = me.role === "department" ? me.department : document.getElementById("inbox-department").value;
    const shown = document.getElementById("inbox-status").value;
    const mine = me.role === "department" && document.getElementById("inbox-mine").checked ? "&mine=true" : "";
    // what the department holds: its inbox, late first, then by the soonest deadline
    if (shown === "open") return [`/api/staff/inbox?department=${encodeURIComponent(department)}${mine}&${base}`];
    return [`/api/staff/cases?department=${encodeURIComponent(department)}&status=${shown}${mine}&${base}`];
  }
  if (name === "supervision") {
    return [`/api/staff/cases?overdue=true&open=true&${base}`,
      `/api/staff/cases?escalated=true&open=true&${base}`,
      `/api/staff/cases?disputed=true&open=true&${base}`];
  }
  if (name === "mine") return [`/api/staff/cases?mine=true&open=true&${base}`];
  if (name === "search") {
    return searchText ? [`/api/staff/cases?q=${encodeURIComponent(searchText)}&${base}`] : [];
  }
  return [];
}

async function load(name) {
  if (name === "webhooks") return loadWebhooks();
  const list = document.getElementById(`list-${name}`);
  // someone is typing in an action, or reading a timeline: the list stays as it is until they are done
  if (list.querySelector("details[open], details :focus")) return;
  const answers = await Promise.all(queriesFor(name).map((path) => staffApi(path)));
  if (!token) return;
  const failed = answers.find((a) => !a.ok);
  if (failed) {
    replace(list, h("li", { class: "empty" }, failure(failed)));
    return;
  }
  const seen = new Set();
  const items = [];
  for (const answer of answers) {
    for (const item of answer.data.items) {
      if (!seen.has(item.case_id)) {
        seen.add(item.case_id);
        items.push(item);
      }
    }
  }
  if (name === "triage") items.sort((a, b) => (a.submitted_at < b.submitted_at ? -1 : 1)); // oldest first
  lists[name] = items;
  const count = document.getElementById(`count-${name}`);
  if (count) count.textContent = items.length ? String(items.length) : "";
  const empty = name === "search" && !searchText ? t("staff.search_hint") : t(`staff.empty_${name}`);
  replace(list, items.length ? items.map((item) => workItem(item, name)) : h("li", { class: "empty" }, empty));
}

// Cases that did not reach a department's webhook (notify's GET /api/admin/webhooks).
async function loadWebhooks() {
  const list = document.getElementById("list-webhooks");
  const answer = await staffApi("/api/admin/webhooks");
  if (!token) return;
  if (!answer.ok) {
    replace(list, h("li", { class: "empty" }, failure(answer)));
    return;
  }
  const items = answer.data.deliveries;
  document.getElementById("count-webhooks").textContent = items.length ? String(items.length) : "";
  replace(list, items.length ? items.map(webhookItem) : h("li", { class: "empty" }, t("staff.empty_webhooks")));
}

function webhookItem(item) {
  const dead = item.status === "dead";
  return h("li", { class: "work-item", dataset: { case: item.case_id, webhook: item.status } },
    h("div", { class: "work-head" },
      h("div", { class: "work-title" },
        h("h3", {}, h("a", { href: `/cases/${encodeURIComponent(item.case_id)}`, target: "_blank", rel: "noopener" }, item.case_id),
          " ", h("span", { class: "muted" }, departmentLabel(item.department))),
        h("p", { class: "work-meta" },
          h("span", { class: dead ? "badge badge-danger" : "badge badge-warn" },
            t(dead ? "staff.webhook_dead" : "staff.webhook_failing")), " ",
          [t("staff.webhook_attempts", { n: item.attempts }),
            item.next_try ? t("staff.webhook_next_try", { time: formatDateTime(item.next_try) }) : null,
          ].filter(Boolean).join(" · ")))),
    h("p", { class: "work-last" }, t("staff.webhook_error", { error: item.last_error })));
}

async function refreshAll() {
  if (!me) return;
  await Promise.all(VIEWS[me.role].filter((name) => !FORMS.includes(name)).map((name) => load(name)));
  document.getElementById("updated").textContent = t("staff.updated", { time: formatDateTime(new Date().toISOString()) });
  document.getElementById("console").dataset.ready = "true";
}

// --- one case in a list ---------------------------------------------------------------------------------

function badges(item) {
  return [
    item.triage_overdue ? h("span", { class: "badge badge-danger" }, t("staff.badge_triage_overdue")) : null,
    item.response_overdue ? h("span", { class: "badge badge-danger" }, t("staff.badge_response_overdue")) : null,
    item.overdue || item.late ? h("span", { class: "badge badge-danger" }, t("staff.badge_overdue")) : null,
    item.escalated ? h("span", { class: "badge badge-warn" }, t("staff.badge_escalated")) : null,
    item.disputed ? h("span", { class: "badge badge-danger" }, t("staff.badge_disputed")) : null,
    item.reopened ? h("span", { class: "badge badge-warn" }, t("staff.badge_reopened", { n: item.reopened })) : null,
  ];
}

function workItem(item, name) {
  const category = categoryOf(item.category && item.category.code);
  const id = item.case_id;
  return h("li", { class: "work-item", dataset: { case: id, status: item.status } },
    h("div", { class: "work-head" },
      h("span", { class: "case-icon", "aria-hidden": "true" }, category.icon || ""),
      h("div", { class: "work-title" },
        h("h3", {}, h("a", { href: `/cases/${encodeURIComponent(id)}`, target: "_blank", rel: "noopener" }, id),
          " ", h("span", { class: "muted" }, item.category ? item.category.name : "")),
        h("p", { class: "work-meta" },
          statusPill(item.status), " ", badges(item), " ",
          [placeLine(item.location) || (item.district && item.district.name),
            item.department ? item.department.name : null,
            t("staff.submitted_at", { time: formatDateTime(item.submitted_at) }),
            item.status === "submitted" && item.triage_due_at
              ? t("staff.triage_due_at", { time: formatDateTime(item.triage_due_at) }) : null,
            item.status === "routed" && item.response_due_at && !item.responded
              ? t("staff.response_due_at", { time: formatDateTime(item.response_due_at) }) : null,
            item.due_at ? t("staff.due_at", { time: formatDateTime(item.due_at) }) : null,
            handlerLine(item),
          ].filter(Boolean).join(" · ")))),
    h("p", { class: "work-description" }, item.description),
    item.last_entry ? h("p", { class: "work-last" }, item.last_entry.text) : null,
    timelineDetails(id),
    h("div", { class: "work-actions" }, actionsFor(item, name)));
}

/** Who in the department handles the case (staff only): one, or none yet. */
function handlerLine(item) {
  if (!("handler" in item) || !WITH_DEPARTMENT.includes(item.status)) return null;
  return item.handler ? t("staff.handler", { handler: item.handler }) : t("staff.no_handler");
}

/**
 * The resident's contact as this reader may see it. No contact has three reasons, told apart:
 * the resident erased it (or its retention ended), it is withheld from this reader (a reporter
 * on a case not handed to them), or the resident gave none.
 */
function contactLines(data) {
  const contact = data.contact || {};
  const given = [contact.name, contact.phone, contact.email].filter(Boolean).join(" · ");
  const state = data.personal_data_erased ? "erased" : data.contact_withheld ? "withheld"
    : given ? "given" : "anonymous";
  const shown = {
    erased: h("span", { class: "badge badge-info" }, t("staff.personal_data_erased")),
    withheld: h("span", { class: "muted" }, t("staff.contact_withheld")),
    given,
    anonymous: t("case.anonymous"),
  }[state];
  const address = data.location && data.location.address;
  const privatePlace = !categoryOf(data.category && data.category.code).address_public;
  const line = (label, ...value) => h("div", {}, h("dt", {}, label), h("dd", {}, ...value));
  return h("dl", { class: "facts work-contact", dataset: { contact: state } },
    line(t("staff.contact"), shown),
    address && privatePlace ? line(t("case.address"), address) : null,
    state === "given" || state === "anonymous" ? photoLine(data.media || [], line) : null);
}

/** The resident's photos, beside their contact: for those who handle the case. */
function photoLine(media, line) {
  if (!media.length) return null;
  return line(t("staff.photos"), h("ul", { class: "work-photos" }, media.map((photo, index) => {
    const label = t("submit.photo_alt", { n: index + 1 });
    const local = localMedia(photo.url);
    return h("li", {}, local
      ? h("a", { href: local, target: "_blank", rel: "noopener" }, h("img", { src: local, alt: label, loading: "lazy" }))
      : h("a", { href: photo.url, target: "_blank", rel: "noopener noreferrer" }, label));
  })));
}

function timelineDetails(id) {
  const list = h("ol", { class: "timeline compact" });
  const contact = h("div");
  const details = h("details", { class: "timeline-details" },
    h("summary", {}, t("staff.timeline")), contact, list);
  details.addEventListener("toggle", async () => {
    if (!details.open) return;
    replace(contact);
    replace(list, h("li", {}, t("common.loading")));
    const answer = await staffApi(`/api/staff/cases/${encodeURIComponent(id)}`);
    if (!answer.ok) {
      replace(list, h("li", {}, failure(answer)));
      return;
    }
    replace(contact, contactLines(answer.data));
    replace(list, answer.data.timeline.map((entry) => h("li", { class: `entry entry-${entry.type}` },
      h("time", { datetime: entry.at }, formatDateTime(entry.at)),
      h("p", { class: "entry-text" }, entry.text,
        entry.public ? null : h("span", { class: "badge" }, t("staff.internal"))),
      h("p", { class: "entry-who" }, entry.who.name))));
  });
  return details;
}

function allowed(action, item) {
  const rule = ACTIONS[action];
  if (!(me.role === "admin" || rule.roles.includes(me.role))) return false;
  if (!rule.statuses.includes(item.status)) return false;
  if (rule.own && me.role === "department" && (!item.department || item.department.code !== me.department)) return false;
  if (rule.notEscalated && item.escalated) return false;
  if (rule.disputed && !item.disputed) return false;
  if (rule.coordinator && me.role === "department" && !me.coordinator) return false;
  return true;
}

function actionsFor(item, name) {
  const all = {
    accept: () => acceptForm(item),
    reject: () => form(item, "reject", [field("reason", "textarea", { required: true, min: 2, max: 500 })],
      (values) => ({ reason: values.reason }), "reject"),
    duplicates: () => duplicates(item),
    route: () => form(item, "route", [departmentField("department", { optional: true })],
      (values) => (values.department ? { department: values.department } : {}), "route"),
    acknowledge: () => form(item, "acknowledge", [field("note", "textarea", { max: 2000 })],
      (values) => (values.note ? { note: values.note } : {}), "acknowledge"),
    progress: () => form(item, "progress", [field("note", "textarea", { required: true, min: 1, max: 2000 }),
      field("public", "checkbox", { checked: true })],
    (values) => ({ note: values.note, public: values.public }), "progress"),
    return: () => form(item, "return", [field("reason", "textarea", { required: true, min: 2, max: 500 })],
      (values) => ({ reason: values.reason }), "return"),
    resolve: () => form(item, "resolve", [field("resolution", "textarea", { required: true, min: 1, max: 2000 })],
      (values) => ({ resolution: values.resolution }), "resolve"),
    reporter: () => form(item, "reporter", [field("reporter_id", "text", { required: true, min: 1, max: 200 })],
      (values) => ({ reporter_id: values.reporter_id }), "reporter"),
    reassign: () => form(item, "reassign", [departmentField("department", {}),
      field("reason", "textarea", { required: true, min: 2, max: 500 })],
    (values) => ({ department: values.department, reason: values.reason }), "reassign"),
    escalate: () => form(item, "escalate", [field("note", "textarea", { max: 2000 })],
      (values) => (values.note ? { note: values.note } : {}), "escalate"),
    settle: () => form(item, "settle", [
      field("outcome", "select", { options: ["closed", "reopened"].map((o) => [o, t(`action.settle.${o}`)]), value: "closed" }),
      field("note", "textarea", { required: true, min: 1, max: 2000 })],
    (values) => ({ outcome: values.outcome, note: values.note }), "settle"),
    visit: () => form(item, "visit", [field("note", "textarea", { required: true, min: 1, max: 2000 }),
      field("public", "checkbox", { checked: true })],
    (values) => ({ note: values.note, public: values.public }), "site-visits"),
    story: () => form(item, "story", [field("title", "text", { required: true, min: 2, max: 200 }),
      field("url", "url", { required: true }),
      field("column", "select", { options: ["inquiry", "supervision", "news"].map((c) => [c, t(`column.${c}`)]), value: "supervision" })],
    (values) => ({ title: values.title, url: values.url, column: values.column }), "stories"),
    handler: () => form(item, "handler", [field("handler", "text", { required: true, min: 1, max: 200 })],
      (values) => ({ handler: values.handler }), "handler"),
  };
  const order = name === "triage" ? ["accept", "reject", "duplicates", "route", "reporter"]
    : name === "inbox" ? ["acknowledge", "handler", "progress", "resolve", "return", "reassign"]
      : ["settle", "reporter", "reassign", "escalate", "visit", "story", "progress", "resolve", "route"];
  const rest = Object.keys(all).filter((a) => !order.includes(a));
  return [...order, ...rest].filter((action) => allowed(action, item)).map((action) => all[action]());
}

// --- action forms -------------------------------------------------------------------------------------------

function field(name, kind, options = {}) {
  return { name, kind, ...options };
}

function departmentField(name, { optional = false }) {
  const options = config.city.departments.map((d) => [d.code, d.name]);
  return field(name, "select", {
    options: optional ? [["", t("staff.by_rules")], ...options] : [["", t("form.choose")], ...options],
    required: !optional,
  });
}

function control(id, spec) {
  if (spec.kind === "textarea") return h("textarea", { id, name: spec.name, rows: 3, maxlength: spec.max || null });
  if (spec.kind === "select") {
    const select = h("select", { id, name: spec.name },
      spec.options.map(([value, label]) => h("option", { value }, label)));
    if (spec.value !== undefined) select.value = spec.value;
    return select;
  }
  if (spec.kind === "checkbox") return h("input", { id, name: spec.name, type: "checkbox", checked: spec.checked });
  if (spec.kind === "url") return h("input", { id, name: spec.name, type: "url", inputmode: "url", placeholder: "https://" });
  return h("input", { id, name: spec.name, type: "text", maxlength: spec.max || null });
}

/** A disclosure with a small form: its button opens it, Escape closes it. */
function form(item, action, fields, toBody, endpoint, extra = null) {
  const id = `${action}-${item.case_id}`;
  const element = h("form", { class: "action-form", novalidate: true },
    fields.map((spec) => {
      const controlId = `${id}-${spec.name}`;
      const label = h("label", { for: controlId }, t(`action.${action}.${spec.name}`));
      return spec.kind === "checkbox"
        ? h("div", { class: "check", dataset: { where: spec.name } }, control(controlId, spec), label)
        : h("div", { class: "field", dataset: { where: spec.name } }, label, control(controlId, spec));
    }),
    extra,
    h("div", { class: "actions" }, h("button", { type: "submit", class: action === "reject" || action === "return" ? "danger" : "primary" },
      t(`action.${action}.confirm`))),
    h("p", { class: "form-status", role: "status", "aria-live": "polite" }));
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(element);
    const values = {};
    const problems = [];
    for (const spec of fields) {
      const input = element.querySelector(`[name="${spec.name}"]`);
      const value = spec.kind === "checkbox" ? input.checked : input.value.trim();
      values[spec.name] = value;
      if (spec.kind === "checkbox") continue;
      const length = [...value].length;
      if (spec.required && !length) problems.push([spec.name, t(`error.${spec.name}`, spec)]);
      else if (length && spec.min && length < spec.min) problems.push([spec.name, t(`error.${spec.name}`, spec)]);
      else if (length && spec.max && length > spec.max) problems.push([spec.name, t(`error.${spec.name}`, spec)]);
      else if (length && spec.kind === "url" && !/^https?:\/\/[^\s]+\.[^\s]+$/i.test(value)) problems.push([spec.name, t("error.url")]);
    }
    if (problems.length) {
      showProblems(element, problems, fields);
      return;
    }
    await send(item, action, endpoint, toBody(values), element, fields);
  });
  return disclosure(action, element);
}

function disclosure(action, content) {
  const details = h("details", { class: `action action-${action}` },
    h("summary", { class: `action-button${action === "reject" || action === "return" ? " danger" : ""}` }, t(`action.${action}`)),
    h("div", { class: "action-body" }, content));
  details.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && details.open) {
      details.open = false;
      details.querySelector("summary").focus();
    }
  });
  details.addEventListener("toggle", () => {
    if (details.open) {
      const first = details.querySelector(".action-body input, .action-body select, .action-body textarea, .action-body button");
      if (first) first.focus();
    }
  });
  return details;
}

function showProblems(element, problems, fields) {
  let first = null;
  for (const [name, message] of problems) {
    const wrapper = element.querySelector(`[data-where="${name}"]`) || element.querySelector("[data-where]");
    if (!wrapper) {
      element.querySelector(".form-status").textContent = message;
      continue;
    }
    showFieldError(wrapper, message);
    first = first || wrapper.querySelector("input, select, textarea");
  }
  if (first) first.focus();
}

async function send(item, action, endpoint, body, element, fields) {
  const button = element.querySelector("button[type=submit]");
  const status = element.querySelector(".form-status");
  button.disabled = true;
  status.textContent = t("common.sending");
  const answer = await staffApi(`/api/cases/${encodeURIComponent(item.case_id)}/${endpoint}`, { method: "POST", body });
  button.disabled = false;
  if (answer.ok) {
    status.textContent = t("common.saved");
    await caughtUp(item.case_id, answer.data);
    status.textContent = "";
    toast(t("staff.done", { action: t(`action.${action}`), case: item.case_id }));
    const card = element.closest(".work-item");
    for (const details of card ? card.querySelectorAll("details[open]") : []) details.open = false;
    await refreshAll();
    return;
  }
  if (answer.status === 422 && Array.isArray(answer.data.problems) && fields) {
    const known = new Set(fields.map((f) => f.name));
    const problems = answer.data.problems.map((p) => {
      const name = String(p.where || "").replace(/^body\.?/, "").split(".")[0];
      return known.has(name) ? [name, t(`error.${name}`, fields.find((f) => f.name === name))] : ["", failure(answer)];
    });
    status.textContent = "";
    showProblems(element, problems.filter(([name]) => name), fields);
    if (problems.some(([name]) => !name)) status.textContent = failure(answer);
    return;
  }
  replace(status, failure(answer), h("span", { class: "server-detail" }, serverDetail(answer)));
  if (answer.status === 409) refreshAll();
}

/**
 * Wait until the lists can show what the command recorded: the timelines are a projection of
 * the log and may be a moment behind the command's answer (which says the seq it recorded).
 * Asked of the public view: the staff view shows the resident's details, and each of its
 * reads is one in the audit trail, which should hold only what someone was shown.
 */
async function caughtUp(caseId, answer) {
  const recorded = answer.recorded || answer.events || [];
  const target = Math.max(0, ...recorded.map((e) => e.seq || 0));
  for (let tries = 0; target && tries < 40; tries += 1) {
    const found = await api(`/api/cases/${encodeURIComponent(caseId)}`);
    if (!found.ok || found.data.seq >= target) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function acceptForm(item) {
  const current = {
    category: item.category && item.category.code,
    district: item.district && item.district.code,
    priority: item.priority,
  };
  const fields = [
    field("category", "select", { options: config.city.categories.map((c) => [c.code, `${c.icon} ${c.name}`]), value: current.category }),
    field("district", "select", { options: config.city.districts.map((d) => [d.code, d.name]), value: current.district }),
    field("priority", "select", { options: ["emergency", "utilities", "general", "complex"].map((p) => [p, t(`priority.${p}`)]), value: current.priority }),
    field("note", "textarea", { max: 2000 }),
  ];
  return form(item, "accept", fields, (values) => {
    const body = {};
    for (const name of ["category", "district", "priority"]) {
      if (values[name] && values[name] !== current[name]) body[name] = values[name];
    }
    if (values.note) body.note = values.note;
    return body;
  }, "accept");
}

function duplicateReason(reason) {
  let match = /^within (\d+) m$/.exec(reason);
  if (match) return t("dup.near", { metres: match[1] });
  if (reason === "same street") return t("dup.street");
  match = /^similar text \((\d+)%\)$/.exec(reason);
  if (match) return t("dup.text", { percent: match[1] });
  return reason;
}

function duplicates(item) {
  const list = h("ul", { class: "suggestions" });
  const manual = form(item, "merge", [field("into_case_id", "text", { required: true, min: 1, max: 200 })],
    (values) => ({ into_case_id: values.into_case_id }), "merge");
  const details = disclosure("duplicates", h("div", {}, h("h4", {}, t("staff.suggestions")), list, manual));
  details.addEventListener("toggle", async () => {
    if (!details.open) return;
    replace(list, h("li", {}, t("common.loading")));
    const answer = await staffApi(`/api/cases/${encodeURIComponent(item.case_id)}/duplicates`);
    if (!answer.ok) {
      replace(list, h("li", {}, failure(answer)));
      return;
    }
    const found = answer.data.suggestions || [];
    replace(list, found.length ? found.map((s) => h("li", { class: "suggestion" },
      h("a", { href: `/cases/${encodeURIComponent(s.case_id)}`, target: "_blank", rel: "noopener" }, s.case_id),
      h("span", { class: "muted" }, ` ${s.reasons.map(duplicateReason).join(t("common.list_separator"))}`),
      h("button", {
        type: "button", class: "secondary small",
        onclick: (event) => {
          const holder = event.target.closest(".action-body");
          send(item, "merge", "merge", { into_case_id: s.case_id }, holder.querySelector("form") || holder, null);
        },
      }, t("staff.merge_into", { case: s.case_id })))) : h("li", { class: "muted" }, t("staff.no_suggestions")));
  });
  return details;
}

// --- wiring ----------------------------------------------------------------------------------------------------

function start() {
  document.getElementById("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(document.getElementById("token").value);
  });
  document.getElementById("signout").addEventListener("click", () => signOut(null));
  document.getElementById("refresh").addEventListener("click", () => refreshAll());
  const tabs = document.getElementById("tabs");
  tabs.addEventListener("click", (event) => {
    const tab = event.target.closest("[role=tab]");
    if (tab) choose(tab.dataset.view);
  });
  tabs.addEventListener("keydown", tabKeys);
  document.getElementById("inbox-department").addEventListener("change", () => load("inbox"));
  document.getElementById("inbox-status").addEventListener("change", () => load("inbox"));
  document.getElementById("inbox-mine").addEventListener("change", () => load("inbox"));
  startHotline(staffApi, () => refreshAll());
  startStaffMap(staffApi);
  startCity(staffApi);
  document.getElementById("staff-search").addEventListener("submit", (event) => {
    event.preventDefault();
    searchText = document.getElementById("staff-q").value.trim();
    load("search");
  });
  setInterval(() => {
    if (me && !document.hidden) refreshAll();
  }, REFRESH_MS);
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) {
    signIn(kept, { remembered: true }).then((ok) => {
      if (!ok) showSignIn();
    });
  } else {
    showSignIn();
  }
  document.body.dataset.staffReady = "true";
}

start();

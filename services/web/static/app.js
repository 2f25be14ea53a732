// What every page shares: the reader's language and texts, the JSON API, building
// elements safely (text is always set as text, never as HTML), errors next to fields,
// the tracking codes remembered on this device.

const configElement = document.getElementById("zaiban-config");
export const config = JSON.parse(configElement.textContent);
export const lang = config.lang;
const messages = config.messages;

/** The text of `key` in the reader's language, with `{name}` filled from `vars`. */
export function t(key, vars = {}) {
  const text = messages[key];
  if (text === undefined) {
    console.warn("zaiban: no text for", key);
    return key;
  }
  return fillIn(text, vars);
}

/** The text of `key` if the catalogue has one, else `fallback`. */
export function tOr(key, fallback, vars = {}) {
  return key in messages ? fillIn(messages[key], vars) : fallback;
}

function fillIn(text, vars) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** An element: `h("p", {class: "x", onclick: f}, "text", child, [more])`. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "text") {
      element.textContent = value;
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** Add `lang=` to an API path, so the answer is written in the reader's language. */
export function withLang(path) {
  const url = new URL(path, location.origin);
  url.searchParams.set("lang", lang);
  return url.pathname + url.search;
}

/**
 * Call the JSON API. Never throws: `{ok, status, data}`; a network failure is status 0.
 * `body` is sent as JSON; `form` (FormData) as multipart.
 */
export async function api(path, { method = "GET", body, form, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  } else if (form !== undefined) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    return { ok: false, status: 0, data: {} };
  }
  let data = {};
  try {
    data = (await response.json()) || {};
  } catch (error) {
    data = {};
  }
  return { ok: response.ok, status: response.status, data };
}

/** What went wrong with a request, for a person: by the answer's status, in their language. */
export function failure(answer) {
  const key = {
    0: "error.network", 401: "error.401", 403: "error.403", 404: "error.404", 409: "error.409",
    413: "error.413", 415: "error.415", 422: "error.422", 503: "error.503",
  }[answer.status] || "error.other";
  return t(key);
}

/** The server's own words (English), shown small under a translated message for staff. */
export function serverDetail(answer) {
  return answer && answer.data && typeof answer.data.error === "string" ? answer.data.error : "";
}

/** A random id; works outside secure contexts too (a LAN address over plain http). */
export function randomId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- dates and numbers, in the city's time zone -------------------------------------------

const dateTimeFormat = new Intl.DateTimeFormat(lang, {
  timeZone: config.city.timezone, year: "numeric", month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit",
});
const dateFormat = new Intl.DateTimeFormat(lang, {
  timeZone: config.city.timezone, year: "numeric", month: "short", day: "numeric",
});
const numberFormat = new Intl.NumberFormat(lang);

export function formatDateTime(iso) {
  return iso ? dateTimeFormat.format(new Date(iso)) : "";
}

export function formatDate(iso) {
  return iso ? dateFormat.format(new Date(iso)) : "";
}

export function formatNumber(value) {
  return value === null || value === undefined ? "—" : numberFormat.format(value);
}

/** A rate 0..1 as a percentage with one decimal, e.g. 91.8%. */
export function formatRate(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return new Intl.NumberFormat(lang, {
    style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(value);
}

// --- the case's words ------------------------------------------------------------------------

export function statusPill(status) {
  return h("span", { class: `status status-${status}` }, tOr(`status.${status}`, status));
}

export function categoryOf(code) {
  return config.city.categories.find((c) => c.code === code) || { code, icon: "", name: code };
}

export function departmentName(code) {
  const found = config.city.departments.find((d) => d.code === code);
  return found ? found.name : code || "";
}

export function districtName(code) {
  const found = config.city.districts.find((d) => d.code === code);
  return found ? found.name : code || "";
}

/** Where a case is, as a line: street or address, district. */
export function placeLine(location) {
  if (!location) return "";
  const parts = [location.address || location.street, location.district_name];
  return parts.filter(Boolean).join(" · ");
}

// --- tracking codes remembered on this device -------------------------------------------------

const CODES_KEY = "zaiban.codes";

function readCodes() {
  try {
    return JSON.parse(localStorage.getItem(CODES_KEY) || "{}") || {};
  } catch (error) {
    return {};
  }
}

function writeCodes(all) {
  try {
    localStorage.setItem(CODES_KEY, JSON.stringify(all));
  } catch (error) {
    /* storage unavailable: the code lives only on this page */
  }
}

export const codes = {
  get(caseId) {
    const found = readCodes()[caseId];
    return found ? found.code : null;
  },
  set(caseId, code) {
    const all = readCodes();
    all[caseId] = { code, saved_at: new Date().toISOString() };
    writeCodes(all);
  },
  forget(caseId) {
    const all = readCodes();
    delete all[caseId];
    writeCodes(all);
  },
  all() {
    return Object.entries(readCodes())
      .map(([caseId, value]) => ({ caseId, ...value }))
      .sort((a, b) => (a.saved_at < b.saved_at ? 1 : -1));
  },
};

// --- errors next to their fields --------------------------------------------------------------

/** Remove every error message shown in `root`. */
export function clearErrors(root) {
  for (const message of root.querySelectorAll(".error")) {
    message.hidden = true;
    message.textContent = "";
  }
  for (const field of root.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
  for (const wrapper of root.querySelectorAll(".has-error")) wrapper.classList.remove("has-error");
  const summary = root.querySelector(".error-summary");
  if (summary) {
    summary.hidden = true;
    summary.replaceChildren();
  }
}

/**
 * Show `message` next to the field wrapped by `wrapper` (an element with `data-where`):
 * the text goes in its `.error` element, tied to the control by aria-describedby.
 */
export function showFieldError(wrapper, message) {
  wrapper.classList.add("has-error");
  let slot = wrapper.querySelector(":scope > .error");
  if (!slot) {
    slot = h("p", { class: "error" });
    // a group's message goes at its top, under its explanation; a field's right under it
    const hint = wrapper.tagName === "FIELDSET" ? wrapper.querySelector(":scope > .hint") : null;
    if (hint) hint.after(slot);
    else wrapper.appendChild(slot);
  }
  if (!slot.id) slot.id = `error-${wrapper.dataset.where.replace(/[^a-z0-9_-]/gi, "-")}`;
  slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
  slot.hidden = false;
  for (const control of wrapper.querySelectorAll("input, select, textarea")) {
    if (control.type === "hidden" || control.type === "file") continue;
    if (control.closest("[data-where]") !== wrapper) continue; // a field of its own, inside a group
    control.setAttribute("aria-invalid", "true");
    const described = new Set((control.getAttribute("aria-describedby") || "").split(/\s+/));
    described.add(slot.id);
    control.setAttribute("aria-describedby", [...described].filter(Boolean).join(" "));
  }
  return slot;
}

/** A list of the problems at the top of a form, each a link to its field (role=alert). */
export function showSummary(form, items) {
  const summary = form.querySelector(".error-summary");
  if (!summary) return;
  replace(summary,
    h("h2", { text: t("form.problems", { count: items.length }) }),
    h("ul", {}, items.map((item) => h("li", {},
      h("a", {
        href: `#${item.target.id || ""}`,
        onclick: (event) => {
          event.preventDefault();
          item.target.focus();
        },
      }, item.message)))));
  summary.hidden = false;
}

/** The first control inside a field's wrapper, to focus it. */
export function controlOf(wrapper) {
  const named = wrapper.dataset.focus && document.getElementById(wrapper.dataset.focus);
  return named || wrapper.querySelector("input:not([type=hidden]), select, textarea, button") || wrapper;
}

// --- small things ---------------------------------------------------------------------------

let toastTimer = null;

/** A short message at the bottom of the screen, read out by screen readers. */
export function toast(message) {
  const element = document.getElementById("toast");
  if (!element) return;
  element.textContent = message;
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    element.hidden = true;
  }, 4000);
}

/** Copy text and say so. */
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("common.copied"));
  } catch (error) {
    toast(t("common.copy_failed"));
  }
}

/** A photo's URL if it may be shown on this page (same origin), else null. */
export function localMedia(url) {
  try {
    const parsed = new URL(url, location.origin);
    return parsed.origin === location.origin ? parsed.pathname : null;
  } catch (error) {
    return null;
  }
}

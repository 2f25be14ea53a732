// The staff console's "City" tab, for admins: the city's configuration as it runs
// (GET /api/admin/city) — categories with their attributes, districts, departments, dispatch
// rules, the time limits of each priority class, the city's changes to the official calendar —
// and a form to add, edit or remove one item (PUT / DELETE /api/admin/city/{kind}/{code}; time
// limits and the calendar are edited, never removed),
// made against the version shown. Each change is an event on the configuration topic; every
// service runs it within seconds. A change against an older version is refused (409): the
// tab reloads and says so. A refused item (422) shows each problem next to its field.

import { clearErrors, failure, formatDateTime, h, replace, serverDetail, showFieldError, t, toast } from "./app.js";

const LANGS = ["zh-Hans", "zh-Hant", "en"];
const PRIORITIES = ["emergency", "utilities", "general", "complex"];
const DATATYPES = ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"];
const KINDS = { categories: "category", districts: "district", departments: "department", rules: "rule", limits: "limits", calendar: "calendar" };
const FIXED = ["limits", "calendar"]; // parts that always exist: edited, never added or removed
const CLOCKS = ["triage", "response", "resolution"];

let staffApi = null;
let state = null; // the last GET /api/admin/city

const panel = () => document.getElementById("panel-city");
const lang = () => document.documentElement.lang || "en";
const named = (names) => (names && (names[lang()] || names.en)) || "";
const codeOf = (kind, item) => (kind === "rules" ? `${item.category}@${item.district || "*"}` : item.code);

export function startCity(api) {
  staffApi = api;
  document.getElementById("tab-city").addEventListener("click", () => loadCity());
}

export async function loadCity() {
  const answer = await staffApi("/api/admin/city");
  const lists = document.getElementById("city-lists");
  if (!answer.ok) {
    replace(lists, h("p", { class: "empty" }, failure(answer)));
    return;
  }
  state = answer.data;
  document.getElementById("city-version").textContent = state.by
    ? t("city.version_by", { version: state.version, by: state.by, time: formatDateTime(state.at) })
    : t("city.version_initial", { version: state.version });
  replace(lists, Object.keys(KINDS).map(section));
  panel().dataset.version = String(state.version);
}

/** The items of a section: a list of the configuration, or each priority class's limits. */
function itemsOf(kind) {
  if (kind === "limits") return PRIORITIES.map((p) => ({ code: p, ...(state.city.deadlines || {})[p] }));
  if (kind === "calendar") return [{ code: "changes", ...(state.city.calendar || {}) }];
  return state.city[kind] || [];
}

function section(kind) {
  const items = itemsOf(kind);
  const fixed = FIXED.includes(kind);
  return h("section", { class: "city-section", dataset: { kind } },
    h("h2", {}, t(`city.${kind}`), " ",
      fixed ? null : h("button", { type: "button", class: "secondary small", dataset: { add: kind }, onclick: () => edit(kind, null) },
        t("city.add"))),
    h("div", { class: "table-scroll" }, h("table", { class: "data-table" },
      h("tbody", {}, items.map((item) => h("tr", { dataset: { item: codeOf(kind, item) } },
        h("td", { class: "mono" }, codeOf(kind, item)),
        h("td", {}, describe(kind, item)),
        h("td", {},
          h("button", { type: "button", class: "link-button", onclick: () => edit(kind, item) }, t("city.edit")), " ",
          fixed ? null : h("button", { type: "button", class: "link-button danger", onclick: () => remove(kind, item) }, t("city.remove")))))))));
}

function limitsLine(limits) {
  return CLOCKS.filter((clock) => limits && limits[clock]).map((clock) => `${t(`city.clock_${clock}`)} ${limits[clock]}`).join(" · ");
}

function describe(kind, item) {
  if (kind === "limits") return `${t(`priority.${item.code}`)}: ${limitsLine(item)}`;
  if (kind === "calendar") {
    return t("city.calendar_line", { holidays: (item.holidays || []).length, working: (item.working_days || []).length,
      beyond: t(`city.beyond_${item.outside_known_years || "weekends"}`) });
  }
  if (kind === "rules") {
    const assisting = (item.assisting || []).length ? ` + ${item.assisting.join(", ")}` : "";
    return `→ ${item.lead}${assisting}`;
  }
  if (kind === "categories") {
    const own = limitsLine(item.deadlines);
    return `${item.icon || ""} ${named(item.names)} · ${t(`priority.${item.priority}`)}`
      + ` · ${t("city.attributes_count", { n: (item.attributes || []).length })}${own ? ` · ${own}` : ""}`;
  }
  return named(item.names);
}

// --- the editor --------------------------------------------------------------------------------

function input(where, label, value, attrs = {}) {
  const id = `city-${where.replace(/[^a-zA-Z0-9]/g, "-")}`;
  return h("div", { class: "field", dataset: { where } },
    h("label", { for: id }, label),
    h("input", { id, name: where, type: "text", value: value ?? "", ...attrs }));
}

function select(where, label, options, value, attrs = {}) {
  const id = `city-${where.replace(/[^a-zA-Z0-9]/g, "-")}`;
  const element = h("select", { id, name: where, ...attrs },
    options.map(([code, text]) => h("option", { value: code }, text)));
  if (attrs.multiple) for (const option of element.options) option.selected = (value || []).includes(option.value);
  else element.value = value ?? "";
  return h("div", { class: "field", dataset: { where } }, h("label", { for: id }, label), element);
}

function check(where, label, checked) {
  const id = `city-${where.replace(/[^a-zA-Z0-9]/g, "-")}`;
  return h("div", { class: "check", dataset: { where } },
    h("input", { id, name: where, type: "checkbox", checked: Boolean(checked) }), h("label", { for: id }, label));
}

function namesFields(prefix, names, label) {
  return h("fieldset", { class: "field", dataset: { where: prefix } }, h("legend", {}, label),
    LANGS.map((language) => input(`${prefix}.${language}`, t(`city.lang_${language}`), names ? names[language] : "")));
}

function attributeFields(attribute, at) {
  const at_ = `attributes.${at}`;
  const values = (attribute.values || []).map((v) => `${v.key}: ${LANGS.map((l) => v.name[l]).join(" / ")}`).join("\n");
  return h("fieldset", { class: "field city-attribute", dataset: { where: at_, attribute: String(at) } },
    h("legend", {}, t("city.attribute", { n: at + 1 })),
    input(`${at_}.code`, t("city.code"), attribute.code),
    select(`${at_}.datatype`, t("city.datatype"), DATATYPES.map((d) => [d, d]), attribute.datatype || "string"),
    check(`${at_}.required`, t("city.required"), attribute.required),
    namesFields(`${at_}.description`, attribute.description, t("city.question")),
    h("div", { class: "field", dataset: { where: `${at_}.values` } },
      h("label", { for: `city-values-${at}` }, t("city.values")),
      h("p", { class: "hint" }, t("city.values_hint")),
      h("textarea", { id: `city-values-${at}`, name: `${at_}.values`, rows: 3 }, values)),
    h("button", { type: "button", class: "link-button danger", onclick: (event) => event.target.closest("fieldset").remove() },
      t("city.attribute_remove")));
}

/** A limit per clock ("3 working days", "4 hours"); for a category, blank keeps its class's. */
function limitFields(prefix, limits, hint) {
  return h("fieldset", { class: "field", dataset: { where: prefix || "limits" } }, h("legend", {}, t("city.limits_legend")),
    h("p", { class: "hint" }, hint),
    CLOCKS.map((clock) => input(prefix ? `${prefix}.${clock}` : clock, t(`city.clock_${clock}`), limits ? limits[clock] : "")));
}

function lines(where, label, values, hint) {
  const id = `city-${where}`;
  return h("div", { class: "field", dataset: { where } },
    h("label", { for: id }, label), h("p", { class: "hint" }, hint),
    h("textarea", { id, name: where, rows: 3 }, (values || []).join("\n")));
}

function fieldsFor(kind, item) {
  const city = state.city;
  const code = item ? item.code : "";
  if (kind === "calendar") {
    return [
      lines("holidays", t("city.holidays"), item.holidays, t("city.days_hint")),
      lines("working_days", t("city.working_days"), item.working_days, t("city.days_hint")),
      input("known_years", t("city.known_years"), (item.known_years || []).join(", "), { inputmode: "numeric" }),
      select("outside_known_years", t("city.outside_known_years"),
        ["weekends", "refuse"].map((x) => [x, t(`city.beyond_${x}`)]), item.outside_known_years || "weekends"),
    ];
  }
  if (kind === "limits") return [input("code", t("city.priority"), t(`priority.${code}`), { readonly: true }), limitFields("", item, t("city.limits_hint"))];
  if (kind === "rules") {
    const departments = city.departments.map((d) => [d.code, `${d.code} — ${named(d.names)}`]);
    return [
      select("category", t("city.category"), city.categories.map((c) => [c.code, named(c.names)]), item && item.category, { disabled: Boolean(item) }),
      select("district", t("city.district"), [["*", t("city.any_district")], ...city.districts.map((d) => [d.code, named(d.names)])],
        item ? item.district || "*" : "*", { disabled: Boolean(item) }),
      select("lead", t("city.lead_department"), [["", t("form.choose")], ...departments], item && item.lead),
      select("assisting", t("city.assisting"), departments, item && item.assisting, { multiple: true, size: 5 }),
    ];
  }
  const common = [input("code", t("city.code"), code, item ? { readonly: true } : {}), namesFields("names", item && item.names, t("city.names"))];
  if (kind === "districts") {
    const [lat, lon] = (item && item.center) || ["", ""];
    return [...common, input("center.0", t("city.lat"), lat, { inputmode: "decimal" }), input("center.1", t("city.lon"), lon, { inputmode: "decimal" })];
  }
  if (kind === "departments") return [...common, input("contact", t("city.contact"), item && item.contact)];
  const attributes = h("div", { id: "city-attributes" }, ((item && item.attributes) || []).map(attributeFields));
  return [...common,
    input("icon", t("city.icon"), item && item.icon),
    namesFields("description", item && item.description, t("city.description")),
    select("priority", t("city.priority"), PRIORITIES.map((p) => [p, t(`priority.${p}`)]), (item && item.priority) || "general"),
    check("address_public", t("city.address_public"), item && item.address_public),
    limitFields("deadlines", item && item.deadlines, t("city.own_limits_hint")),
    h("fieldset", { class: "field" }, h("legend", {}, t("city.attributes")), attributes,
      h("button", { type: "button", class: "secondary small", id: "city-attribute-add",
        onclick: () => attributes.appendChild(attributeFields({}, attributes.children.length)) }, t("city.attribute_add")))];
}

function edit(kind, item) {
  const editor = document.getElementById("city-editor");
  const title = item ? t("city.editing", { what: t(`city.one_${KINDS[kind]}`), code: codeOf(kind, item) })
    : t("city.adding", { what: t(`city.one_${KINDS[kind]}`) });
  const form = h("form", { class: "form", id: "city-form", novalidate: true, dataset: { kind } },
    h("h2", {}, title),
    fieldsFor(kind, item),
    h("div", { class: "field", dataset: { where: "note" } },
      h("label", { for: "city-note" }, t("city.note")), h("input", { id: "city-note", name: "note", type: "text", maxlength: 200 })),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("city.save")), " ",
      h("button", { type: "button", class: "secondary", onclick: () => replace(editor) }, t("city.cancel"))),
    h("p", { class: "form-status", role: "status", "aria-live": "polite" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save(kind, item, form);
  });
  replace(editor, form);
  const first = form.querySelector("input:not([readonly]), select:not([disabled])");
  if (first) first.focus();
}

function valueOf(form, where) {
  const element = form.querySelector(`[name="${where}"]`);
  if (!element) return undefined;
  if (element.type === "checkbox") return element.checked;
  if (element.multiple) return [...element.selectedOptions].map((o) => o.value);
  return element.value.trim();
}

function namesOf(form, prefix) {
  return Object.fromEntries(LANGS.map((language) => [language, valueOf(form, `${prefix}.${language}`)]));
}

function number(text) {
  return text === "" || Number.isNaN(Number(text)) ? text : Number(text);
}

/** The item as the configuration files describe it, from the form. */
function itemOf(kind, form) {
  if (kind === "limits") return Object.fromEntries(CLOCKS.map((clock) => [clock, valueOf(form, clock)]));
  if (kind === "calendar") {
    const days = (where) => valueOf(form, where).split(/[\s,]+/).filter(Boolean);
    return { holidays: days("holidays"), working_days: days("working_days"),
      known_years: days("known_years").map(number), outside_known_years: valueOf(form, "outside_known_years") };
  }
  if (kind === "rules") {
    return { category: valueOf(form, "category"), district: valueOf(form, "district"),
      lead: valueOf(form, "lead"), assisting: valueOf(form, "assisting") };
  }
  const item = { code: valueOf(form, "code"), names: namesOf(form, "names") };
  if (kind === "districts") item.center = [number(valueOf(form, "center.0")), number(valueOf(form, "center.1"))];
  if (kind === "departments") item.contact = valueOf(form, "contact");
  if (kind === "categories") {
    Object.assign(item, { icon: valueOf(form, "icon"), description: namesOf(form, "description"),
      priority: valueOf(form, "priority"), address_public: valueOf(form, "address_public") });
    const own = CLOCKS.filter((clock) => valueOf(form, `deadlines.${clock}`));
    if (own.length) item.deadlines = Object.fromEntries(own.map((clock) => [clock, valueOf(form, `deadlines.${clock}`)]));
    item.attributes = [...form.querySelectorAll(".city-attribute")].map((fieldset, order) => {
      const at = `attributes.${fieldset.dataset.attribute}`;
      const values = valueOf(form, `${at}.values`).split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
        const [key, rest = ""] = line.split(/:(.*)/s);
        const names = rest.split("/").map((name) => name.trim());
        return { key: key.trim(), name: Object.fromEntries(LANGS.map((l, i) => [l, names[i] || names[0] || key.trim()])) };
      });
      return { code: valueOf(form, `${at}.code`), datatype: valueOf(form, `${at}.datatype`),
        required: valueOf(form, `${at}.required`), order: order + 1,
        description: namesOf(form, `${at}.description`), values };
    });
  }
  return item;
}

async function save(kind, old, form) {
  clearErrors(form);
  const status = form.querySelector(".form-status");
  const item = itemOf(kind, form);
  if (kind !== "rules" && !FIXED.includes(kind) && !item.code) {
    showFieldError(form.querySelector('[data-where="code"]'), t("city.error_code"));
    return;
  }
  if (kind === "rules" && !item.lead) {
    showFieldError(form.querySelector('[data-where="lead"]'), t("city.error_lead"));
    return;
  }
  const code = old ? codeOf(kind, old) : codeOf(kind, item);
  status.textContent = t("common.sending");
  const answer = await staffApi(`/api/admin/city/${kind}/${encodeURIComponent(code)}`, {
    method: "PUT", body: { expected_version: state.version, item, note: valueOf(form, "note") } });
  await answered(answer, form, status, kind);
}

async function remove(kind, item) {
  const code = codeOf(kind, item);
  if (!window.confirm(t("city.remove_confirm", { code }))) return;
  const answer = await staffApi(`/api/admin/city/${kind}/${encodeURIComponent(code)}?expected_version=${state.version}`,
    { method: "DELETE" });
  const editor = document.getElementById("city-editor");
  const status = h("p", { class: "form-status", role: "status" });
  replace(editor, status);
  await answered(answer, null, status, kind);
}

async function answered(answer, form, status, kind) {
  if (answer.ok) {
    replace(document.getElementById("city-editor"));
    toast(t("city.saved", { version: answer.data.version }));
    await loadCity();
    return;
  }
  if (answer.status === 409) {
    replace(status, t("city.stale"), h("span", { class: "server-detail" }, serverDetail(answer)));
    await loadCity();
    return;
  }
  status.textContent = "";
  let shown = false;
  for (const problem of (answer.status === 422 && answer.data.problems) || []) {
    const where = String(problem.where || "").replace(/^(body\.)?item\.?/, "");
    // a rule naming what the city does not have: next to the rule's departments
    const field = form && (form.querySelector(`[data-where="${where}"]`)
      || (where === "rules" && kind === "rules" ? form.querySelector('[data-where="lead"]') : null)
      || form.querySelector(`[data-where="${where.split(".").slice(0, -1).join(".")}"]`));
    if (field) {
      showFieldError(field, problem.problem);
      shown = true;
    } else {
      status.append(h("span", { class: "error-line" }, problem.problem), " ");
    }
  }
  if (!shown && !status.textContent) {
    replace(status, failure(answer), h("span", { class: "server-detail" }, serverDetail(answer)));
  }
  const first = form && form.querySelector(".has-error input, .has-error select, .has-error textarea");
  if (first) first.focus();
}

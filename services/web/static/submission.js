// What the resident's form (submit.js) and the hotline form of the staff console (hotline.js)
// share: a category's own questions (Open311 attributes, from /api/catalogue) asked in the
// reader's language, and the answers given; and a refusal's problems said next to their
// fields. Each field's wrapper says where a problem points (`data-where`, e.g.
// `location.district`, `attributes.<code>`), so a 422 from the server lands where it belongs.

import { config, controlOf, h, replace, showFieldError, showSummary, t } from "./app.js";

function question(attribute) {
  const id = `attribute-${attribute.code}`;
  const where = `attributes.${attribute.code}`;
  const label = [attribute.description,
    attribute.required ? h("span", { class: "required" }, ` ${t("form.required")}`) : null];
  if (attribute.datatype === "multivaluelist") {
    return h("fieldset", { class: "field", dataset: { where } },
      h("legend", {}, label),
      attribute.values.map((value) => h("div", { class: "check" },
        h("input", { type: "checkbox", id: `${id}-${value.key}`, name: id, value: value.key }),
        h("label", { for: `${id}-${value.key}` }, value.name))));
  }
  let control;
  if (attribute.datatype === "singlevaluelist") {
    control = h("select", { id, name: id, required: attribute.required },
      h("option", { value: "" }, t("form.choose")),
      attribute.values.map((value) => h("option", { value: value.key }, value.name)));
  } else if (attribute.datatype === "text") {
    control = h("textarea", { id, name: id, rows: 3, maxlength: 500 });
  } else if (attribute.datatype === "number") {
    control = h("input", { id, name: id, type: "text", inputmode: "decimal" });
  } else if (attribute.datatype === "datetime") {
    control = h("input", { id, name: id, type: "datetime-local" });
  } else {
    control = h("input", { id, name: id, type: "text", maxlength: 500 });
  }
  return h("div", { class: "field", dataset: { where } }, h("label", { for: id }, label), control);
}

/** Ask `category`'s questions in `box` (none for no category), in their order. */
export function showQuestions(box, category) {
  const questions = category ? [...(category.attributes || [])].sort((a, b) => a.order - b.order) : [];
  replace(box, questions.map(question));
}

/** The answers given in `form` to `category`'s questions, by attribute code (empty left out). */
export function answers(form, category) {
  const values = {};
  for (const attribute of (category && category.attributes) || []) {
    const id = `attribute-${attribute.code}`;
    if (attribute.datatype === "multivaluelist") {
      const checked = [...form.querySelectorAll(`input[name="${id}"]:checked`)].map((i) => i.value);
      if (checked.length) values[attribute.code] = checked;
    } else {
      const control = form.querySelector(`[id="${id}"]`);
      const value = control ? control.value.trim() : "";
      if (value) values[attribute.code] = value;
    }
  }
  return values;
}

/**
 * Ask in `box` for the consent to be told as the case moves: the `notify` box (its label and
 * hint the texts `label`, `hint`) and a box per channel, email ticked; ids start with `prefix`.
 * A channel's address is the form's own `email` or `phone` field.
 */
export function showConsent(box, prefix, { label, hint }) {
  const id = (name) => `${prefix}${name}`;
  const channel = (value, text) => h("div", { class: "check" },
    h("input", { id: id(`notify-${value}`), name: "channels", value, type: "checkbox",
      checked: value === "email" }),
    h("label", { for: id(`notify-${value}`) }, t(text)));
  replace(box,
    h("div", { class: "check", dataset: { where: "contact.notify" } },
      h("input", { id: id("notify"), name: "notify", type: "checkbox",
        "aria-describedby": id("notify-hint") }),
      h("label", { for: id("notify") }, t(label))),
    h("p", { class: "hint", id: id("notify-hint") }, t(hint)),
    h("div", { class: "checks", id: id("notify-channels"), dataset: { where: "contact.channels" } },
      channel("email", "submit.notify_email"), channel("sms", "submit.notify_sms")));
}

/**
 * The consent to be told as the case moves (services/notify/) that `form` gives: its `notify`
 * box and the `channels` ticked, as the contact's `{ notify, channels }`; null when not given.
 */
export function consent(form) {
  const agreed = form.querySelector('input[name="notify"]');
  if (!agreed || !agreed.checked) return null;
  return { notify: true,
    channels: [...form.querySelectorAll('input[name="channels"]:checked')].map((i) => i.value) };
}

/** What is wrong with `form`'s consent before sending: a channel needs its address (`email`,
 * `phone` in the same form), and agreeing needs one channel at least. */
export function consentProblems(form) {
  const given = consent(form);
  if (given === null) return [];
  const filled = (name) => form.querySelector(`input[name="${name}"]`).value.trim() !== "";
  const problems = [];
  if (given.channels.includes("email") && !filled("email")) problems.push(["contact.email", t("error.notify_email")]);
  if (given.channels.includes("sms") && !filled("phone")) problems.push(["contact.phone", t("error.notify_phone")]);
  if (!given.channels.length) problems.push(["contact.channels", t("error.notify_channel")]);
  return problems;
}

/** A problem the server named, in the reader's words, and the field it belongs to. */
export function fromServer(problem) {
  const where = String(problem.where || "").replace(/^body\.?/, "");
  const said = String(problem.problem || "").toLowerCase();
  if (where === "category") return ["category", t("error.category")];
  if (where === "description") {
    if (said.includes("at least")) return ["description", t("error.description_short", { min: 5 })];
    if (said.includes("at most")) return ["description", t("error.description_long", { max: 4000 })];
    return ["description", t("error.description")];
  }
  if (where === "location.district") return ["location.district", t("error.district")];
  if (where === "location.lat" || where === "location.lon") return ["location.point", t("error.point_number")];
  if (where === "location") {
    if (said.includes("outside")) return ["location.point", t("error.point_outside", { city: config.city.name })];
    if (said.includes("both")) return ["location.point", t("error.point_both")];
    return ["location", t("error.where")];
  }
  if (where.startsWith("location.")) return [where, t("error.text_line")];
  if (where === "contact.phone") return ["contact.phone", t("error.phone")];
  if (where === "contact.email") return ["contact.email", t("error.email")];
  if (where === "contact" && said.includes("needs the contact's phone")) return ["contact.phone", t("error.notify_phone")];
  if (where === "contact" && said.includes("needs the contact's email")) return ["contact.email", t("error.notify_email")];
  if (where.startsWith("contact")) return [where, t("error.text_line")];
  if (where.startsWith("attributes.")) {
    const field = where.split(".").slice(0, 2).join(".");
    if (said.includes("required")) return [field, t("error.attribute_required")];
    if (said.includes("one of")) return [field, t("error.attribute_choice")];
    if (said.includes("number")) return [field, t("error.attribute_number")];
    return [field, t("error.attribute")];
  }
  if (where.startsWith("media")) return ["media", t("error.photo_ref")];
  return [where || "form", t("error.invalid_field")];
}

function wrapperFor(form, where) {
  let path = where;
  while (path) {
    const found = form.querySelector(`[data-where="${CSS.escape(path)}"]`);
    if (found) return found;
    path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
  }
  return null;
}

/** Say each `[where, message]` next to its field in `form` (else in `status`), and sum them up. */
export function showProblems(form, status, problems) {
  const items = [];
  const seen = new Set();
  for (const [where, message] of problems) {
    const wrapper = wrapperFor(form, where);
    if (!wrapper) {
      status.textContent = message;
      continue;
    }
    if (seen.has(`${where}|${message}`)) continue;
    seen.add(`${where}|${message}`);
    showFieldError(wrapper, message);
    items.push({ message, target: controlOf(wrapper) });
  }
  if (items.length) {
    showSummary(form, items);
    form.querySelector(".error-summary").focus();
  }
}

// The hotline entry form of the staff console: an officer (or a supervisor) takes a call and
// enters the caller's request for them (POST /api/hotline/cases: channel hotline, entered by
// the officer's token). The answer's case number and tracking code are read back to the
// caller, who follows and answers the case with them like any resident. The officer asks the
// caller whether to be told as the case moves, by email and/or SMS (the same consent as the
// resident's form: submission.js), in the caller's language.
//
// A retried send of the same call carries the same Idempotency-Key, so a double click or a
// lost answer never makes two cases; the next call gets a new key.

import { api, clearErrors, config, failure, h, randomId, replace, t, withLang } from "./app.js";
import {
  answers, consent, consentProblems, fromServer, showConsent, showProblems, showQuestions,
} from "./submission.js";

let catalogue = { categories: config.city.categories.map((c) => ({ ...c, attributes: [] })) };
let key = randomId();

const form = () => document.getElementById("hotline-form");
const value = (id) => document.getElementById(id).value.trim();

function chosenCategory() {
  const code = document.getElementById("hotline-category").value;
  return catalogue.categories.find((c) => c.code === code) || null;
}

async function loadCatalogue() {
  const answer = await api(withLang("/api/catalogue"));
  if (answer.ok) catalogue = answer.data; // else: the names the page has, without questions
  const category = document.getElementById("hotline-category");
  replace(category, h("option", { value: "" }, t("form.choose")),
    catalogue.categories.map((c) => h("option", { value: c.code }, `${c.icon || ""} ${c.name}`)));
  const district = document.getElementById("hotline-district");
  replace(district, h("option", { value: "" }, t("submit.district_choose")),
    config.city.districts.map((d) => h("option", { value: d.code }, d.name)));
}

function check() {
  const problems = [];
  const category = chosenCategory();
  if (!category) problems.push(["category", t("error.category")]);
  const length = [...value("hotline-description")].length;
  if (length < 5 || length > 4000) problems.push(["description", t("error.description")]);
  if (!value("hotline-district")) problems.push(["location.district", t("error.district")]);
  if (!value("hotline-street") && !value("hotline-address")) problems.push(["location", t("error.where")]);
  problems.push(...consentProblems(form()));
  const given = answers(form(), category);
  for (const attribute of (category && category.attributes) || []) {
    if (attribute.required && !given[attribute.code]) {
      problems.push([`attributes.${attribute.code}`, t("error.attribute_required")]);
    }
  }
  return problems;
}

function body() {
  const request = {
    category: chosenCategory().code,
    description: value("hotline-description"),
    location: { district: value("hotline-district"), street: value("hotline-street"),
      address: value("hotline-address") },
    language: document.getElementById("hotline-language").value,
    attributes: answers(form(), chosenCategory()),
  };
  const contact = { name: value("hotline-name"), phone: value("hotline-phone"), email: value("hotline-email"),
    ...consent(form()) };
  if (contact.name || contact.phone || contact.email || contact.notify) request.contact = contact;
  return request;
}

function showReceipt(receipt) {
  document.getElementById("hotline-case").replaceChildren(
    h("a", { href: `/cases/${encodeURIComponent(receipt.case_id)}`, target: "_blank", rel: "noopener" }, receipt.case_id));
  document.getElementById("hotline-code").textContent = receipt.tracking_code;
  form().hidden = true;
  const shown = document.getElementById("hotline-receipt");
  shown.hidden = false;
  shown.focus();
}

function nextCall() {
  form().reset();
  clearErrors(form());
  showQuestions(document.getElementById("hotline-attributes"), null);
  key = randomId();
  document.getElementById("hotline-receipt").hidden = true;
  form().hidden = false;
  document.getElementById("hotline-language").focus();
}

/** Wire the form; `send(path, options)` is the console's API call with the staff token. */
export function startHotline(send, onEntered) {
  showConsent(document.getElementById("hotline-consent"), "hotline-",
    { label: "hotline.notify", hint: "hotline.notify_hint" });
  loadCatalogue();
  document.getElementById("hotline-category").addEventListener("change", () => {
    showQuestions(document.getElementById("hotline-attributes"), chosenCategory());
  });
  document.getElementById("hotline-next").addEventListener("click", nextCall);
  form().addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = document.getElementById("hotline-status");
    clearErrors(form());
    status.textContent = "";
    const problems = check();
    if (problems.length) {
      showProblems(form(), status, problems);
      return;
    }
    const button = document.getElementById("hotline-send");
    button.disabled = true;
    status.textContent = t("common.sending");
    const answer = await send("/api/hotline/cases", {
      method: "POST", body: body(), headers: { "Idempotency-Key": key },
    });
    button.disabled = false;
    status.textContent = "";
    if (answer.ok) {
      showReceipt(answer.data);
      onEntered(answer.data.case_id);
    } else if (answer.status === 422 && Array.isArray(answer.data.problems)) {
      showProblems(form(), status, answer.data.problems.map(fromServer));
    } else {
      status.textContent = failure(answer);
    }
  });
}

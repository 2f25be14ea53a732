// Find one's case by its tracking code; the cases opened on this device are listed too.

import { api, clearErrors, codes, failure, h, replace, showFieldError, t } from "./app.js";

const form = document.getElementById("track-form");
const input = document.getElementById("code");
const status = document.getElementById("track-status");

async function open(event) {
  event.preventDefault();
  clearErrors(form);
  status.textContent = "";
  const wrapper = form.querySelector("[data-where=code]");
  const code = input.value.trim();
  const plain = code.toUpperCase().replace(/[\s-]/g, "");
  if (!plain) {
    showFieldError(wrapper, t("error.code_missing"));
    input.focus();
    return;
  }
  if (!/^[0-9A-Z]{8,32}$/.test(plain)) {
    showFieldError(wrapper, t("error.code_shape"));
    input.focus();
    return;
  }
  const answer = await api(`/api/tracking/${encodeURIComponent(plain)}`);
  if (answer.ok) {
    codes.set(answer.data.case_id, code);
    location.assign(`/cases/${encodeURIComponent(answer.data.case_id)}`);
    return;
  }
  if (answer.status === 404 || answer.status === 422) {
    showFieldError(wrapper, t(answer.status === 404 ? "error.code_unknown" : "error.code_shape"));
    input.focus();
    return;
  }
  status.textContent = failure(answer);
}

function listMine() {
  const mine = codes.all();
  document.getElementById("mine").hidden = mine.length === 0;
  replace(document.getElementById("mine-list"), mine.map((item) => h("li", {},
    h("a", { href: `/cases/${encodeURIComponent(item.caseId)}` }, item.caseId))));
}

form.addEventListener("submit", open);
listMine();
form.dataset.ready = "true";

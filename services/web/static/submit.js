// The resident's one-step submission: category, description, where, photos, contact.
// Checks what it can before sending (instant help); what only the city knows comes back
// as a 422 whose problems name their fields, and each is shown next to its field.

import {
  api, clearErrors, codes, config, copy, failure, h, randomId, replace,
  showFieldError, t, withLang, lang,
} from "./app.js";
import {
  answers, consent, consentProblems, fromServer, showConsent, showProblems, showQuestions,
} from "./submission.js";
import { inCity, makeMap, marker, pointOf } from "./map.js";

const MAX_PHOTOS = 6;
const DRAFT_KEY = "zaiban.draft";

const form = document.getElementById("submit-form");
const categoriesBox = document.getElementById("categories");
const attributesBox = document.getElementById("attributes");
const description = document.getElementById("description");
const counter = document.getElementById("description-count");
const district = document.getElementById("district");
const anonymous = document.getElementById("anonymous");
const contactFields = document.getElementById("contact-fields");
const thumbs = document.getElementById("thumbs");
const photosInput = document.getElementById("photos");
const status = document.getElementById("form-status");
const sendButton = document.getElementById("send");

let catalogue = { categories: [], districts: [] };
let photos = []; // {id, ref: {url, content_type, size} | null, preview, uploading}
let attempt = { key: randomId(), body: null };

// --- the catalogue: categories by name and icon, districts ---------------------------------------

async function loadCatalogue() {
  const answer = await api(withLang("/api/catalogue"));
  if (answer.ok) {
    catalogue = answer.data;
  } else {
    // the page still works from the names the page was given
    catalogue = { categories: config.city.categories.map((c) => ({ ...c, description: "", attributes: [] })),
      districts: config.city.districts };
    status.textContent = failure(answer);
  }
  replace(categoriesBox, catalogue.categories.map((category) => {
    const id = `category-${category.code}`;
    return h("div", { class: "category-option" },
      h("input", { type: "radio", name: "category", id, value: category.code, required: true }),
      h("label", { for: id },
        h("span", { class: "category-icon", "aria-hidden": "true" }, category.icon || ""),
        h("span", { class: "category-name" }, category.name),
        category.description ? h("span", { class: "category-description" }, category.description) : null));
  }));
  for (const item of catalogue.districts) {
    district.appendChild(h("option", { value: item.code }, item.name));
  }
  categoriesBox.addEventListener("change", () => showAttributes());
}

function chosenCategory() {
  const checked = form.querySelector("input[name=category]:checked");
  return checked ? catalogue.categories.find((c) => c.code === checked.value) : null;
}

/** The chosen category's own questions (Open311 attributes), asked in the reader's language. */
function showAttributes() {
  showQuestions(attributesBox, chosenCategory());
}

function attributeValues() {
  return answers(form, chosenCategory());
}

// --- description, contact, point -----------------------------------------------------------------

function countCharacters() {
  const length = [...description.value.trim()].length;
  counter.textContent = t("submit.count", { count: length, max: 4000 });
}

function toggleContact() {
  contactFields.hidden = anonymous.checked;
  for (const input of contactFields.querySelectorAll("input")) input.disabled = anonymous.checked;
}

function locate() {
  const note = document.getElementById("locate-status");
  if (!navigator.geolocation || !window.isSecureContext) {
    note.textContent = t("submit.locate_unavailable");
    return;
  }
  note.textContent = t("submit.locating");
  navigator.geolocation.getCurrentPosition(
    (position) => {
      document.getElementById("lat").value = position.coords.latitude.toFixed(6);
      document.getElementById("lon").value = position.coords.longitude.toFixed(6);
      note.textContent = t("submit.located");
      showPicked({ center: true });
      saveDraft();
    },
    () => {
      note.textContent = t("submit.locate_failed");
    },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
  );
}

// --- the map: a click (or a dragged pin) fills lat and lon, in WGS84 whatever the tiles' datum;
// typing them moves the pin. The fields stay the way to give a point without the map.

let picker = null; // {L, map, pin}

async function startPicker() {
  picker = await makeMap(document.getElementById("point-map"), { label: t("map.pick_label") });
  if (!picker) return;
  picker.map.on("click", (event) => pick(pointOf(event.latlng)));
  showPicked({ center: true });
  document.getElementById("lat").addEventListener("change", () => showPicked({ center: true }));
  document.getElementById("lon").addEventListener("change", () => showPicked({ center: true }));
}

function pick(point) {
  const note = document.getElementById("point-map-status");
  if (!inCity(point.lat, point.lon)) {
    note.textContent = t("map.outside_city", { city: config.city.name });
    return;
  }
  document.getElementById("lat").value = point.lat.toFixed(6);
  document.getElementById("lon").value = point.lon.toFixed(6);
  note.textContent = t("map.picked", { lat: point.lat.toFixed(6), lon: point.lon.toFixed(6) });
  showPicked({ center: false });
  saveDraft();
}

/** The pin where the fields say (none when they hold no point of the city). */
function showPicked({ center }) {
  if (!picker) return;
  const lat = numberOrNull(document.getElementById("lat").value);
  const lon = numberOrNull(document.getElementById("lon").value);
  const placed = lat !== null && lon !== null && !Number.isNaN(lat) && !Number.isNaN(lon)
    && inCity(lat, lon);
  if (picker.pin) {
    picker.pin.remove();
    picker.pin = null;
  }
  if (!placed) return;
  picker.pin = marker(picker.L, lat, lon, { draggable: true, title: t("map.pin"), alt: t("map.pin") });
  picker.pin.on("dragend", () => pick(pointOf(picker.pin.getLatLng())));
  picker.pin.addTo(picker.map);
  if (center) picker.map.setView(picker.pin.getLatLng(), Math.max(picker.map.getZoom(), 15));
}

// --- photos: uploaded as soon as they are chosen, then referenced in the submission ----------------

async function addPhotos() {
  const wrapper = document.getElementById("field-media");
  clearErrorsIn(wrapper);
  const files = [...photosInput.files];
  photosInput.value = "";
  for (const file of files) {
    if (photos.length >= MAX_PHOTOS) {
      showFieldError(wrapper, t("error.photo_count", { max: MAX_PHOTOS }));
      break;
    }
    const photo = { id: randomId(), ref: null, preview: URL.createObjectURL(file), uploading: true };
    photos.push(photo);
    drawThumbs();
    const form = new FormData();
    form.append("photo", file);
    const answer = await api("/api/media", { method: "POST", form });
    photo.uploading = false;
    if (answer.ok) {
      photo.ref = { url: answer.data.url, content_type: answer.data.content_type, size: answer.data.size };
    } else {
      photos = photos.filter((p) => p !== photo);
      URL.revokeObjectURL(photo.preview);
      const key = { 413: "error.photo_size", 415: "error.photo_type", 422: "error.photo_empty" }[answer.status];
      showFieldError(wrapper, key ? t(key, { name: file.name }) : failure(answer));
    }
    drawThumbs();
    saveDraft();
  }
}

function drawThumbs() {
  replace(thumbs, photos.map((photo, index) => h("li", { class: photo.uploading ? "uploading" : "" },
    h("img", { src: photo.preview || photo.ref.url, alt: t("submit.photo_alt", { n: index + 1 }) }),
    photo.uploading ? h("span", { class: "thumb-note" }, t("submit.uploading")) : null,
    h("button", {
      type: "button", class: "thumb-remove",
      "aria-label": t("submit.photo_remove", { n: index + 1 }),
      onclick: () => {
        photos = photos.filter((p) => p !== photo);
        drawThumbs();
        saveDraft();
      },
    }, "×"))));
}

function clearErrorsIn(wrapper) {
  const slot = wrapper.querySelector(":scope > .error");
  if (slot) {
    slot.hidden = true;
    slot.textContent = "";
  }
  wrapper.classList.remove("has-error");
}

// --- checking before sending ------------------------------------------------------------------------

function numberOrNull(text) {
  const value = text.trim().replace(",", ".");
  if (!value) return null;
  return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
}

/** What the form can tell is missing or wrong without asking the server: [[where, message]]. */
function check() {
  const problems = [];
  const category = chosenCategory();
  if (!category) problems.push(["category", t("error.category")]);
  const length = [...description.value.trim()].length;
  if (length < 5) problems.push(["description", t("error.description_short", { min: 5 })]);
  if (length > 4000) problems.push(["description", t("error.description_long", { max: 4000 })]);
  if (!district.value) problems.push(["location.district", t("error.district")]);
  const lat = numberOrNull(document.getElementById("lat").value);
  const lon = numberOrNull(document.getElementById("lon").value);
  if (Number.isNaN(lat) || Number.isNaN(lon)) {
    problems.push(["location.point", t("error.point_number")]);
  } else if ((lat === null) !== (lon === null)) {
    problems.push(["location.point", t("error.point_both")]);
  }
  const street = document.getElementById("street").value.trim();
  const address = document.getElementById("address").value.trim();
  if (!street && !address && lat === null) problems.push(["location", t("error.where")]);
  if (!anonymous.checked) problems.push(...consentProblems(form));
  for (const attribute of (category && category.attributes) || []) {
    const value = attributeValues()[attribute.code];
    if (attribute.required && !value) {
      problems.push([`attributes.${attribute.code}`, t("error.attribute_required")]);
    } else if (value && attribute.datatype === "number" && Number.isNaN(numberOrNull(value))) {
      problems.push([`attributes.${attribute.code}`, t("error.attribute_number")]);
    }
  }
  if (photos.some((p) => p.uploading)) problems.push(["media", t("error.photo_wait")]);
  return problems;
}

function show(problems) {
  showProblems(form, status, problems);
}

// --- sending ---------------------------------------------------------------------------------------

function body() {
  const lat = numberOrNull(document.getElementById("lat").value);
  const lon = numberOrNull(document.getElementById("lon").value);
  const location = {
    district: district.value,
    street: document.getElementById("street").value.trim(),
    address: document.getElementById("address").value.trim(),
  };
  if (lat !== null && lon !== null) Object.assign(location, { lat, lon });
  const submission = {
    category: chosenCategory().code,
    description: description.value.trim(),
    location,
    channel: "web",
    language: lang,
    attributes: attributeValues(),
    media: photos.filter((p) => p.ref).map((p) => p.ref),
  };
  if (!anonymous.checked) {
    const contact = {
      name: document.getElementById("name").value.trim(),
      phone: document.getElementById("phone").value.trim(),
      email: document.getElementById("email").value.trim(),
    };
    Object.assign(contact, consent(form)); // told by the channels ticked, if agreed
    if (contact.name || contact.phone || contact.email) submission.contact = contact;
  }
  return submission;
}

async function submit(event) {
  event.preventDefault();
  clearErrors(form);
  status.textContent = "";
  const problems = check();
  if (problems.length) {
    show(problems);
    return;
  }
  const submission = body();
  // The same content sent again (a retry after a lost answer) keeps its key: one case, not two.
  const text = JSON.stringify(submission);
  if (attempt.body !== null && attempt.body !== text) attempt = { key: randomId(), body: null };
  attempt.body = text;
  sendButton.disabled = true;
  status.textContent = t("submit.sending");
  const answer = await api("/api/cases", {
    method: "POST", body: submission, headers: { "Idempotency-Key": attempt.key },
  });
  sendButton.disabled = false;
  if (answer.ok) {
    status.textContent = "";
    received(answer.data);
    return;
  }
  if (answer.status === 422 && Array.isArray(answer.data.problems)) {
    status.textContent = "";
    show(answer.data.problems.map(fromServer));
    return;
  }
  status.textContent = failure(answer);
}

function received(receipt) {
  codes.set(receipt.case_id, receipt.tracking_code);
  clearDraft();
  attempt = { key: randomId(), body: null };
  document.getElementById("receipt-case").textContent = receipt.case_id;
  document.getElementById("receipt-code").textContent = receipt.tracking_code;
  document.getElementById("receipt-link").href = `/cases/${encodeURIComponent(receipt.case_id)}`;
  document.getElementById("copy-case").onclick = () => copy(receipt.case_id);
  document.getElementById("copy-code").onclick = () => copy(receipt.tracking_code);
  form.hidden = true;
  document.querySelector(".intro").hidden = true;
  const panel = document.getElementById("receipt");
  panel.hidden = false;
  panel.focus();
  window.scrollTo(0, 0);
}

// --- a draft survives a change of language or a reload ------------------------------------------

function saveDraft() {
  const fields = {};
  for (const control of form.querySelectorAll("input, select, textarea")) {
    if (!control.id || control.type === "file") continue;
    fields[control.id] = control.type === "checkbox" || control.type === "radio"
      ? control.checked : control.value;
  }
  const draft = { fields, photos: photos.filter((p) => p.ref).map((p) => p.ref) };
  try {
    sessionStorage.setItem(DRAFT_KEY, JSON.stringify(draft));
  } catch (error) { /* no storage: no draft */ }
}

function restoreDraft() {
  let draft = null;
  try {
    draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null");
  } catch (error) {
    draft = null;
  }
  if (!draft) return;
  const apply = (ids) => {
    for (const [id, value] of Object.entries(draft.fields || {})) {
      const control = document.getElementById(id);
      if (!control || (ids && !ids(id))) continue;
      if (control.type === "checkbox" || control.type === "radio") control.checked = Boolean(value);
      else control.value = value;
    }
  };
  apply((id) => !id.startsWith("attribute-"));
  showAttributes();
  apply((id) => id.startsWith("attribute-"));
  photos = (draft.photos || []).map((ref) => ({ id: randomId(), ref, preview: null, uploading: false }));
  drawThumbs();
}

function clearDraft() {
  try {
    sessionStorage.removeItem(DRAFT_KEY);
  } catch (error) { /* nothing kept */ }
}

// --- wiring ------------------------------------------------------------------------------------------

async function start() {
  showConsent(document.getElementById("notify-consent"), "",
    { label: "submit.notify", hint: "submit.notify_hint" });
  await loadCatalogue();
  restoreDraft();
  countCharacters();
  toggleContact();
  description.addEventListener("input", countCharacters);
  anonymous.addEventListener("change", toggleContact);
  photosInput.addEventListener("change", addPhotos);
  document.getElementById("locate").addEventListener("click", locate);
  form.addEventListener("input", saveDraft);
  form.addEventListener("change", saveDraft);
  form.addEventListener("submit", submit);
  form.dataset.ready = "true";
  startPicker();
}

start();

// The live case page: the public timeline for anyone; with the tracking code (from ?code=,
// typed in, or remembered on this device) the resident's own view, their personal data (and
// its erasure, for good) and, once the case is resolved, their answer. New entries arrive over
// server-sent events as they happen.

import {
  api, categoryOf, clearErrors, codes, controlOf, failure, formatDateTime, h, localMedia,
  replace, serverDetail, showFieldError, showSummary, statusPill, t, tOr, toast, withLang,
} from "./app.js";
import { makeMap, marker } from "./map.js";

const caseId = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop());
const path = `/api/cases/${encodeURIComponent(caseId)}`;

const STEPS = ["submitted", "accepted", "routed", "acknowledged", "resolved", "closed"];
const STEP_OF = { awaiting_dispatch: "accepted" };
const NOT_YET_RETRIES = 20; // a case just submitted may take a moment to reach the timeline

let code = takeCode();
let view = null;
let entries = new Map(); // seq -> entry
let stream = null;
let refreshTimer = null;

function takeCode() {
  const params = new URLSearchParams(location.search);
  const given = params.get("code");
  if (given) {
    // keep it on this device, and out of the address bar (and of anything copied from it)
    params.delete("code");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : ""));
    return given.trim();
  }
  return codes.get(caseId);
}

// --- reading the case ----------------------------------------------------------------------------

async function read() {
  const publicAnswer = () => api(withLang(path));
  if (code) {
    const own = await api(withLang(`${path}/private`), { headers: { "X-Tracking-Code": code } });
    if (own.ok) {
      codes.set(caseId, code);
      return { answer: own, private: true };
    }
    if (own.status === 403 || own.status === 401) {
      // Either the code is wrong or the case is not on the timeline yet: the public view says.
      const open = await publicAnswer();
      if (open.ok) {
        codes.forget(caseId);
        const rejected = code;
        code = null;
        return { answer: open, private: false, rejectedCode: rejected };
      }
      return { answer: open, private: false };
    }
    return { answer: own, private: false };
  }
  return { answer: await publicAnswer(), private: false };
}

async function load({ first = false } = {}) {
  let tries = 0;
  for (;;) {
    const result = await read();
    if (result.answer.ok) {
      show(result.answer.data, result.private);
      if (result.rejectedCode) codeRefused(result.rejectedCode);
      return true;
    }
    if (result.answer.status === 404 && first && tries < NOT_YET_RETRIES) {
      tries += 1;
      await new Promise((resolve) => setTimeout(resolve, 500));
      continue;
    }
    if (result.answer.status === 404) {
      document.getElementById("case-loading").hidden = true;
      document.getElementById("case-missing").hidden = false;
      return false;
    }
    if (first) {
      document.getElementById("case-loading").textContent = failure(result.answer);
    } else {
      toast(failure(result.answer));
    }
    return false;
  }
}

function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => load(), 250);
}

// --- showing it ---------------------------------------------------------------------------------------

function show(data, isPrivate) {
  view = data;
  view.private = isPrivate;
  for (const entry of data.timeline || []) entries.set(entry.seq, entry);
  document.getElementById("case-loading").hidden = true;
  document.getElementById("case").hidden = false;
  document.getElementById("case-id").textContent = data.case_id;
  const category = data.category || { name: "" };
  const icon = categoryOf(category.code).icon;
  replace(document.getElementById("case-title"),
    icon ? h("span", { class: "title-icon", "aria-hidden": "true" }, icon) : null, category.name);
  document.title = `${data.case_id} · ${category.name}`;
  replace(document.getElementById("case-status"), statusPill(data.status));
  drawSteps(data.status);
  drawMerged(data.merged_into);
  drawFacts(data);
  drawTimeline();
  drawPrivate(data, isPrivate);
  drawPersonal(data, isPrivate);
  drawFeedback(data, isPrivate);
  document.getElementById("code-panel").hidden = isPrivate;
}

function drawSteps(status) {
  const current = STEP_OF[status] || status;
  const at = STEPS.indexOf(current);
  const list = document.getElementById("steps");
  if (at < 0) {
    // rejected or merged: the road ends at triage
    replace(list, h("li", { class: "step done" }, t("status.submitted")),
      h("li", { class: "step current end", "aria-current": "step" }, tOr(`status.${status}`, status)));
    return;
  }
  replace(list, STEPS.map((step, index) => h("li", {
    class: `step ${index < at ? "done" : index === at ? "current" : "todo"}`,
    "aria-current": index === at ? "step" : null,
  }, t(`step.${step}`))));
}

function drawMerged(into) {
  const box = document.getElementById("merged");
  if (!into) {
    box.hidden = true;
    return;
  }
  replace(box, t("case.merged_into"), " ",
    h("a", { href: `/cases/${encodeURIComponent(into)}` }, into));
  box.hidden = false;
}

function fact(label, ...value) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, ...value));
}

function placeOnly(location) {
  return location ? location.address || location.street || "" : "";
}

function drawFacts(data) {
  const facts = data.facts || {};
  const items = [
    fact(t("case.place"), placeOnly(data.location) || (data.district && data.district.name) || ""),
    data.district ? fact(t("case.district"), data.district.name) : null,
    data.department ? fact(t("case.department"), data.department.name) : null,
    fact(t("case.submitted"), formatDateTime(data.submitted_at)),
    fact(t("case.channel"), tOr(`channel.${data.channel}`, data.channel)),
    facts.due_at && !["resolved", "closed", "rejected", "merged"].includes(data.status)
      ? fact(t("case.due"), formatDateTime(facts.due_at)) : null,
    facts.resolved_at ? fact(t("case.resolved_at"), formatDateTime(facts.resolved_at)) : null,
    data.reporter_following ? fact(t("case.reporter"), t("case.reporter_following")) : null,
  ];
  replace(document.getElementById("facts"), items);
  drawPlace(data);
  document.getElementById("description").textContent = data.description || "";
  // photos the erase answer said were deleted are not shown while the views catch up
  const photos = erasure === "erased" ? [] : data.media || [];
  replace(document.getElementById("photos"), photos.map((media, index) => {
    const local = localMedia(media.url);
    const label = t("case.photo", { n: index + 1 });
    return h("li", {}, local
      ? h("a", { href: local, target: "_blank", rel: "noopener" },
        h("img", { src: local, alt: label, loading: "lazy" }))
      : h("a", { href: media.url, target: "_blank", rel: "noopener noreferrer" }, label));
  }));
  const stories = data.stories || [];
  replace(document.getElementById("stories"), stories.length ? [
    h("h3", {}, t("case.stories")),
    h("ul", { class: "stories" }, stories.map((story) => h("li", {},
      h("span", { class: "story-column" }, tOr(`column.${story.column}`, story.column)), " ",
      h("a", { href: story.url, target: "_blank", rel: "noopener noreferrer" }, story.title)))),
  ] : []);
}

// The place on a small map, when the category's address is public (never a private one's,
// even on the resident's own view, which holds it).
let placeMap = null; // {L, map, pin}, once drawn

async function drawPlace(data) {
  const box = document.getElementById("case-map");
  const location = data.location || {};
  const shown = categoryOf(data.category && data.category.code).address_public
    && typeof location.lat === "number" && typeof location.lon === "number";
  box.hidden = !shown;
  if (!shown) return;
  if (!placeMap) {
    placeMap = { pending: makeMap(box, { label: t("map.case_label"), center: [location.lat, location.lon], zoom: 16 }) };
    Object.assign(placeMap, await placeMap.pending);
    if (!placeMap.map) return;
  } else {
    await placeMap.pending;
    if (!placeMap.map) return;
  }
  if (placeMap.pin) placeMap.pin.remove();
  const title = placeOnly(location) || t("map.pin");
  placeMap.pin = marker(placeMap.L, location.lat, location.lon, { title, alt: title }).addTo(placeMap.map);
}

function drawTimeline() {
  const list = document.getElementById("timeline");
  const shown = new Set([...list.children].map((li) => Number(li.dataset.seq)));
  const ordered = [...entries.values()].sort((a, b) => a.seq - b.seq);
  replace(list, ordered.map((entry) => h("li", {
    class: `entry entry-${entry.type}${shown.size && !shown.has(entry.seq) ? " new" : ""}`,
    dataset: { seq: entry.seq, type: entry.type },
  },
  h("time", { datetime: entry.at }, formatDateTime(entry.at)),
  h("p", { class: "entry-text" }, entry.text),
  h("p", { class: "entry-who" }, entry.who && entry.who.name))));
}

function drawPrivate(data, isPrivate) {
  const panel = document.getElementById("private");
  panel.hidden = !isPrivate;
  if (!isPrivate) return;
  const feedback = data.feedback;
  replace(document.getElementById("private-facts"),
    feedback ? fact(t("case.your_answer"), answerLine(feedback)) : null,
    data.disputed ? fact(t("case.dispute"), t("case.dispute_with_supervision")) : null);
}

function answerLine(feedback) {
  const parts = [feedback.fixed ? t("feedback.fixed_yes") : t("feedback.fixed_no")];
  if (feedback.fixed) parts.push(feedback.satisfied ? t("feedback.satisfied_yes") : t("feedback.satisfied_no"));
  parts.push(t("feedback.stars", { n: feedback.rating }));
  return parts.join(" · ");
}

// --- the resident's personal data, and erasing it -----------------------------------------------
// Erasing destroys the key that opens the resident's contact, private address and original
// text, and deletes their photos; the case and its public timeline stay. The erase answers
// before the views have read `PersonalDataErased` from the log, so the page keeps what the
// answer said rather than showing the old details again in the meantime.

let erasure = null; // what the erase answered: "erasing" (under way) or "erased"
let erasedAt = null;

function personalFacts(data) {
  const contact = data.contact || {};
  const location = data.location || {};
  // a public place's address is on the public page anyway: it is not the resident's to erase
  const privatePlace = !categoryOf(data.category && data.category.code).address_public;
  const photos = (data.media || []).length;
  return [
    location.address && privatePlace ? fact(t("case.address"), location.address) : null,
    contact.name ? fact(t("submit.name"), contact.name) : null,
    contact.phone ? fact(t("submit.phone"), contact.phone) : null,
    contact.email ? fact(t("submit.email"), contact.email) : null,
    !contact.name && !contact.phone && !contact.email ? fact(t("submit.contact"), t("case.anonymous")) : null,
    photos ? fact(t("personal.photos"), t("personal.photo_count", { n: photos })) : null,
  ];
}

function erasedEntryAt() {
  const entry = [...entries.values()].find((e) => e.type === "PersonalDataErased");
  return entry ? entry.at : null;
}

function drawPersonal(data, isPrivate) {
  const panel = document.getElementById("personal");
  panel.hidden = !isPrivate;
  if (!isPrivate) return;
  const erased = Boolean(data.personal_data_erased) || erasure === "erased";
  document.getElementById("personal-kept").hidden = erased;
  document.getElementById("personal-erased").hidden = !erased;
  if (erased) {
    if (erasure === "erasing") document.getElementById("personal-status").textContent = "";
    erasure = "erased";
    const at = erasedAt || erasedEntryAt();
    document.getElementById("personal-erased-at").textContent =
      at ? t("personal.erased_at", { time: formatDateTime(at) }) : "";
    return;
  }
  replace(document.getElementById("personal-facts"), personalFacts(data));
  document.getElementById("erase-open").hidden = erasure === "erasing";
}

function showConfirmation(open, { focus = true } = {}) {
  const opener = document.getElementById("erase-open");
  document.getElementById("erase-confirm").hidden = !open;
  opener.setAttribute("aria-expanded", String(open));
  if (!focus) return;
  if (open) document.getElementById("erase-confirm-title").focus();
  else opener.focus();
}

function erasureRefused(answer) {
  // 401/403: the code on this device no longer opens the case; the staff's "sign in" is no answer
  const reason = answer.status === 401 || answer.status === 403 ? t("personal.code_refused")
    : failure(answer);
  return t("personal.not_erased", { reason });
}

async function erase() {
  const status = document.getElementById("personal-status");
  const buttons = [document.getElementById("erase-confirm-button"), document.getElementById("erase-cancel")];
  for (const button of buttons) button.disabled = true;
  status.textContent = t("personal.erasing");
  const answer = await api(`${path}/erase`, { method: "POST", headers: { "X-Tracking-Code": code || "" } });
  for (const button of buttons) button.disabled = false;
  const outcome = answer.status === 409 ? "erased" : answer.ok ? answer.data.status : null;
  if (outcome !== "erased" && outcome !== "erasing") {
    replace(status, erasureRefused(answer), h("span", { class: "server-detail" }, serverDetail(answer)));
    return;
  }
  erasure = outcome;
  erasedAt = answer.data.key_destroyed_at || null;
  showConfirmation(false, { focus: false });
  status.textContent = answer.status === 409 ? t("personal.already_erased")
    : outcome === "erasing" ? t("personal.under_way") : "";
  drawFacts(view);
  drawPersonal(view, true);
  document.getElementById(outcome === "erased" ? "personal-erased-note" : "personal-title").focus();
  refreshSoon(); // the original text and the exact address leave the page as the views catch up
}

// --- the resident's answer --------------------------------------------------------------------------

function drawFeedback(data, isPrivate) {
  const panel = document.getElementById("feedback");
  // a disputed resolution waits for a supervisor's ruling, not for another answer
  const open = isPrivate && data.status === "resolved" && !data.disputed;
  if (panel.hidden === !open) return;
  panel.hidden = !open;
}

function drawStars() {
  const box = document.getElementById("stars");
  replace(box, [1, 2, 3, 4, 5].map((n) => h("span", { class: "star" },
    h("input", { type: "radio", name: "rating", id: `rating-${n}`, value: n }),
    h("label", { for: `rating-${n}`, title: t("feedback.stars", { n }) },
      h("span", { "aria-hidden": "true" }, "★"),
      h("span", { class: "visually-hidden" }, t("feedback.stars", { n }))))));
}

function chosen(name) {
  const input = document.querySelector(`input[name=${name}]:checked`);
  return input ? input.value : null;
}

async function sendFeedback(event) {
  event.preventDefault();
  const form = event.target;
  const status = document.getElementById("feedback-status");
  clearErrors(form);
  status.textContent = "";
  const fixed = chosen("fixed");
  const satisfied = chosen("satisfied");
  const rating = chosen("rating");
  const problems = [];
  if (!fixed) problems.push(["fixed", t("error.fixed")]);
  if (fixed === "yes" && !satisfied) problems.push(["satisfied", t("error.satisfied")]);
  if (!rating) problems.push(["rating", t("error.rating")]);
  if (problems.length) {
    showProblems(form, problems);
    return;
  }
  const comment = document.getElementById("comment").value.trim();
  const body = { fixed: fixed === "yes", satisfied: fixed === "yes" ? satisfied === "yes" : false,
    rating: Number(rating) };
  if (comment) body.comment = comment;
  const button = document.getElementById("feedback-send");
  button.disabled = true;
  const answer = await api(`${path}/feedback`, {
    method: "POST", body, headers: { "X-Tracking-Code": code || "" },
  });
  button.disabled = false;
  if (answer.ok) {
    form.reset();
    document.getElementById("feedback").hidden = true;
    toast(t("feedback.thanks"));
    refreshSoon();
    return;
  }
  if (answer.status === 422 && Array.isArray(answer.data.problems)) {
    showProblems(form, answer.data.problems.map((p) => {
      const where = String(p.where || "").replace(/^body\.?/, "");
      const known = { rating: "error.rating", satisfied: "error.satisfied", fixed: "error.fixed" };
      return [where || "comment", t(known[where] || "error.comment")];
    }));
    return;
  }
  status.textContent = answer.status === 409 ? t("feedback.too_late") : failure(answer);
}

function showProblems(form, problems) {
  const items = [];
  for (const [where, message] of problems) {
    const wrapper = form.querySelector(`[data-where="${where}"]`) || form.querySelector("[data-where=comment]");
    showFieldError(wrapper, message);
    items.push({ message, target: controlOf(wrapper) });
  }
  showSummary(form, items);
  form.querySelector(".error-summary").focus();
}

function toggleSatisfied() {
  const field = document.getElementById("satisfied-field");
  field.hidden = chosen("fixed") !== "yes";
}

// --- opening the resident's view with a code ------------------------------------------------------

function codeRefused(given) {
  const form = document.getElementById("code-form");
  document.getElementById("code-input").value = given;
  showFieldError(form.querySelector("[data-where=code]"), t("error.code_wrong"));
}

async function openWithCode(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const given = document.getElementById("code-input").value.trim();
  if (!given) {
    showFieldError(form.querySelector("[data-where=code]"), t("error.code_missing"));
    document.getElementById("code-input").focus();
    return;
  }
  code = given;
  const ok = await load();
  if (ok && view && view.private) {
    document.getElementById("code-input").value = "";
    toast(t("case.code_opened"));
    follow(); // again, now as the resident
  }
}

// --- live ------------------------------------------------------------------------------------------------

function liveState(state) {
  const badge = document.getElementById("live-state");
  badge.dataset.state = state;
  badge.textContent = t(`live.${state}`);
}

function follow() {
  if (stream) stream.close();
  const last = Math.max(0, ...entries.keys());
  const params = new URLSearchParams({ lang: document.documentElement.lang, after: String(last) });
  if (code && view && view.private) params.set("code", code);
  stream = new EventSource(`${path}/live?${params}`);
  stream.addEventListener("open", () => liveState("live"));
  stream.addEventListener("error", () => liveState(stream.readyState === EventSource.CLOSED ? "offline" : "connecting"));
  stream.addEventListener("entry", (event) => {
    const entry = JSON.parse(event.data);
    if (entries.has(entry.seq)) return;
    entries.set(entry.seq, entry);
    drawTimeline();
    refreshSoon(); // the head (status, department, the answer form) follows the entry
  });
  stream.addEventListener("merged", (event) => {
    const { into } = JSON.parse(event.data);
    drawMerged(into);
  });
}

// --- wiring ----------------------------------------------------------------------------------------------

async function start() {
  drawStars();
  document.getElementById("feedback-form").addEventListener("submit", sendFeedback);
  for (const radio of document.querySelectorAll("input[name=fixed]")) radio.addEventListener("change", toggleSatisfied);
  toggleSatisfied();
  document.getElementById("code-form").addEventListener("submit", openWithCode);
  document.getElementById("erase-open").addEventListener("click",
    () => showConfirmation(document.getElementById("erase-confirm").hidden));
  document.getElementById("erase-cancel").addEventListener("click", () => showConfirmation(false));
  document.getElementById("erase-confirm").addEventListener("keydown", (event) => {
    if (event.key === "Escape") showConfirmation(false);
  });
  document.getElementById("erase-confirm-button").addEventListener("click", erase);
  document.getElementById("forget-code").addEventListener("click", () => {
    codes.forget(caseId);
    code = null;
    load().then(follow);
  });
  if (await load({ first: true })) follow();
  document.getElementById("case").dataset.ready = "true";
}

start();

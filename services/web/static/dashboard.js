// The public dashboard: the headline figures in the article's form, the trend by day, the
// breakdowns by category, department, district and channel, and the department ranking.
// Everything comes from the metrics service's public API (/api/stats/...), read again every
// few seconds, so the page stays live.

import { bars, trend } from "./charts.js";
import { readChain, shortHead } from "./chain.js";
import {
  api, categoryOf, departmentName, districtName, failure, formatDateTime, formatNumber,
  h, lang, replace, t, tOr, withLang,
} from "./app.js";

const REFRESH_MS = 5000;
const TREND_DAYS = 30;
const DIMENSIONS = ["category", "department", "district", "channel"];

// --- reading the figures (the one place that knows the metrics API's shape) ----------------------

async function fetchFigures() {
  const asked = periodParams();
  const paths = {
    summary: "/api/stats/summary",
    day: "/api/stats/breakdown/day",
    ranking: "/api/stats/ranking",
    ...Object.fromEntries(DIMENSIONS.map((d) => [d, `/api/stats/breakdown/${d}`])),
  };
  const names = Object.keys(paths);
  const answers = await Promise.all(names.map((name) => api(withPeriod(withLang(paths[name]), asked))));
  const failed = answers.find((a) => !a.ok);
  if (failed) return { failed };
  const data = Object.fromEntries(names.map((name, i) => [name, answers[i].data]));
  return {
    summary: data.summary,
    days: rowsOf(data.day.rows),
    breakdowns: Object.fromEntries(DIMENSIONS.map((d) => [d, rowsOf(data[d].rows)])),
    ranking: rowsOf(data.ranking.departments),
    skipped: data.ranking.skipped || [],
    minCases: data.ranking.min_cases,
  };
}

/** Rows of a breakdown (or the ranking): each a Row of figures with its `code` and `name`. */
function rowsOf(rows) {
  return (rows || []).map((row) => ({ ...row, value: row.code }));
}

// --- words for values --------------------------------------------------------------------------

function nameOf(dimension, row) {
  if (row.name) return row.name;
  if (dimension === "category") return categoryOf(row.value).name;
  if (dimension === "department") return departmentName(row.value);
  if (dimension === "district") return districtName(row.value);
  if (dimension === "channel") return tOr(`channel.${row.value}`, row.value);
  return String(row.value);
}

function rate(row, name) {
  const exact = row[name];
  if (typeof exact === "number") return exact;
  const pct = row[`${name}_pct`];
  return typeof pct === "number" ? pct / 100 : null;
}

function percent(value) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(lang, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(value);
}

/** A duration in hours as people say it: minutes, hours or days. */
function duration(hours) {
  if (hours === null || hours === undefined) return "—";
  if (hours < 1) return t("dashboard.minutes", { n: formatNumber(Math.max(1, Math.round(hours * 60))) });
  if (hours < 48) return t("dashboard.hours", { n: formatNumber(Math.round(hours * 10) / 10) });
  return t("dashboard.days", { n: formatNumber(Math.round((hours / 24) * 10) / 10) });
}

function hoursOf(durations) {
  if (!durations) return null;
  if (typeof durations.median_h === "number") return durations.median_h;
  if (typeof durations.median_s === "number") return durations.median_s / 3600;
  return null;
}

const dayFormat = new Intl.DateTimeFormat(lang, { month: "numeric", day: "numeric", timeZone: "UTC" });
function dayLabel(day) {
  return dayFormat.format(new Date(`${day}T00:00:00Z`));
}
const longDayFormat = new Intl.DateTimeFormat(lang, { year: "numeric", month: "long", day: "numeric", timeZone: "UTC" });

// --- drawing ---------------------------------------------------------------------------------------

/** Charts are drawn at the width they are shown at, so their text keeps its size. */
function widthOf(element, fallback) {
  return Math.round(element.clientWidth) || fallback;
}

function table(headers, rows) {
  return h("table", { class: "data-table" },
    h("thead", {}, h("tr", {}, headers.map(([label, numeric]) => h("th", { scope: "col", class: numeric ? "num" : null }, label)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map(([value, numeric]) => h("td", { class: numeric ? "num" : null }, value))))));
}

function drawHeadline(figures) {
  const s = figures.summary;
  const resolutionRate = rate(s, "resolution_rate");
  document.getElementById("fig-received").textContent = formatNumber(s.received);
  document.getElementById("fig-resolved").textContent = formatNumber(s.resolved);
  document.getElementById("fig-resolution-rate").textContent = percent(resolutionRate);
  document.getElementById("fig-open").textContent = formatNumber(s.open);
  const onTime = rate(s, "on_time_rate");
  const satisfaction = rate(s, "satisfaction_rate");
  document.getElementById("fig-on-time-rate").textContent = percent(onTime);
  document.getElementById("fig-satisfaction-rate").textContent = percent(satisfaction);
  meter("meter-on-time", onTime);
  meter("meter-satisfaction", satisfaction);
  // what the rate is of: the answers given; the cases closed unanswered are said, not counted
  document.getElementById("fig-satisfaction-basis").textContent = t("dashboard.satisfaction_basis", {
    answers: formatNumber(s.feedback || 0), unanswered: formatNumber(s.unanswered || 0),
  });
  document.getElementById("fig-first-response").textContent = duration(hoursOf(s.first_response));
  document.getElementById("fig-resolution-time").textContent = duration(hoursOf(s.resolution_time));
  const reopen = rate(s, "reopen_rate");
  document.getElementById("fig-reopen").textContent = s.resolved_ever ? t("dashboard.reopen_line", {
    rate: percent(reopen), count: formatNumber(s.reopened || 0),
  }) : "";
  // the article's sentence: "4,314 received since April, 3,960 resolved, resolution rate 92%"
  const since = figures.days.length ? figures.days[0].value : null; // the first day with a case
  const whole = s.resolution_rate_whole ?? (resolutionRate === null ? null : Math.round(resolutionRate * 100));
  if (drawPeriodLine(s, whole)) return;
  document.getElementById("article-line").textContent = t(since ? "dashboard.article" : "dashboard.article_no_date", {
    since: since ? longDayFormat.format(new Date(`${since}T00:00:00Z`)) : "",
    received: formatNumber(s.received),
    resolved: formatNumber(s.resolved),
    rate: whole === null ? "—" : `${whole}%`,
  });
}

function meter(id, value) {
  const bar = document.getElementById(id);
  // a width through the CSSOM is allowed by the page's content security policy
  bar.style.width = `${Math.round((value || 0) * 100)}%`;
}

function drawTrend(days) {
  const recent = days.slice(-TREND_DAYS);
  const chart = document.getElementById("chart-day");
  if (!recent.length) {
    replace(chart, h("p", { class: "note" }, t("dashboard.no_data")));
  } else {
    replace(chart, trend(recent.map((d) => ({ day: d.value, values: [d.received || 0, d.resolved_on ?? d.resolved ?? 0] })), {
      title: t("dashboard.trend"), format: formatNumber, dayLabel, width: widthOf(chart, 860),
      height: Math.max(180, Math.min(260, widthOf(chart, 860) * 0.32)),
    }));
  }
  replace(document.getElementById("table-day"), table(
    [[t("dashboard.day")], [t("dashboard.received"), true], [t("dashboard.resolved_that_day"), true]],
    recent.map((d) => [[d.value], [formatNumber(d.received), true], [formatNumber(d.resolved_on ?? d.resolved), true]])));
}

function drawBreakdown(dimension, rows) {
  const shown = rows;
  const chart = document.getElementById(`chart-${dimension}`);
  const title = t(`dashboard.by_${dimension}`);
  const icon = (row) => (dimension === "category" ? `${categoryOf(row.value).icon || ""} ` : "");
  if (!shown.some((r) => r.received > 0)) {
    replace(chart, h("p", { class: "note" }, t("dashboard.no_data")));
  } else {
    replace(chart, bars(shown.filter((r) => r.received > 0).map((row) => ({
      label: `${icon(row)}${nameOf(dimension, row)}`,
      value: row.received,
      value2: row.resolved,
      note: `${formatNumber(row.resolved)} / ${formatNumber(row.received)} · ${percent(rate(row, "resolution_rate"))}`,
    })), { title, format: formatNumber, width: widthOf(chart, 640) }));
  }
  replace(document.getElementById(`table-${dimension}`), table(
    [[t(`dashboard.col_${dimension}`)], [t("dashboard.received"), true], [t("dashboard.resolved"), true],
      [t("dashboard.resolution_rate"), true], [t("dashboard.on_time_rate"), true], [t("dashboard.satisfaction_rate"), true]],
    shown.map((row) => [[nameOf(dimension, row)], [formatNumber(row.received), true], [formatNumber(row.resolved), true],
      [percent(rate(row, "resolution_rate")), true], [percent(rate(row, "on_time_rate")), true],
      [percent(rate(row, "satisfaction_rate")), true]])));
}

function drawRanking(rows, skipped = [], minCases = 1) {
  drawSkipped(skipped, minCases);
  const box = document.getElementById("ranking");
  if (!rows.length) {
    // every department left out for too few cases: the note under it says so
    replace(box, skipped.length ? h("span", {}) : h("p", { class: "note" }, t("dashboard.no_data")));
    return;
  }
  replace(box, table(
    [[t("dashboard.rank"), true], [t("dashboard.col_department")], [t("dashboard.received"), true],
      [t("dashboard.resolved"), true], [t("dashboard.resolution_rate"), true], [t("dashboard.on_time_rate"), true],
      [t("dashboard.satisfaction_rate"), true]],
    rows.map((row) => [[h("span", { class: "rank" }, String(row.rank)), true],
      [nameOf("department", row)],
      [formatNumber(row.received), true], [formatNumber(row.resolved), true],
      [percent(rate(row, "resolution_rate")), true], [percent(rate(row, "on_time_rate")), true],
      [percent(rate(row, "satisfaction_rate")), true]])));
}

// --- live ---------------------------------------------------------------------------------------------

let drawn = false;
let last = null;

function liveState(state) {
  const badge = document.getElementById("dash-live");
  badge.dataset.state = state;
  badge.textContent = t(`live.${state}`);
}

async function refresh() {
  const figures = await fetchFigures();
  if (figures.failed) {
    liveState("offline");
    if (!drawn) document.getElementById("article-line").textContent = failure(figures.failed);
    return;
  }
  last = figures;
  draw(figures);
  document.getElementById("dash-updated").textContent = t("dashboard.updated", {
    time: formatDateTime(new Date().toISOString()), seconds: REFRESH_MS / 1000,
  });
  liveState("live");
  drawn = true;
  document.getElementById("dashboard").dataset.ready = "true";
}

function draw(figures) {
  drawHeadline(figures);
  drawTrend(figures.days);
  for (const dimension of DIMENSIONS) drawBreakdown(dimension, figures.breakdowns[dimension]);
  drawRanking(figures.ranking, figures.skipped, figures.minCases);
}

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => last && draw(last), 200);
});

async function loop() {
  if (!document.hidden) await refresh();
  setTimeout(loop, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});

// --- figures by period -----------------------------------------------------------------------
// The period is in the page's URL (?period=2026-Q4, or ?from=...&to=...), so a link to the page
// shows the same figures; every API call and CSV link carries it. All time without one.

const PERIOD_KEYS = ["period", "from", "to"];

function periodParams() {
  const here = new URLSearchParams(location.search);
  return PERIOD_KEYS.filter((k) => here.get(k)).map((k) => [k, here.get(k)]);
}

function withPeriod(path, asked = periodParams()) {
  const url = new URL(path, location.origin);
  for (const [k, v] of asked) url.searchParams.set(k, v);
  return url.pathname + url.search;
}

function periodControls() {
  const $ = (id) => document.getElementById(id);
  return {
    kind: $("period-kind"), year: $("period-year"), quarter: $("period-quarter"),
    month: $("period-month"), from: $("period-from"), to: $("period-to"),
    fromLabel: $("period-from-label"), toLabel: $("period-to-label"),
  };
}

function showPeriodFields(c) {
  const kind = c.kind.value;
  c.year.hidden = !(kind === "year" || kind === "quarter");
  c.quarter.hidden = kind !== "quarter";
  c.month.hidden = kind !== "month";
  c.fromLabel.hidden = c.toLabel.hidden = kind !== "custom";
}

/** The chooser shows what the URL asks for. */
function setChooser(c) {
  const asked = Object.fromEntries(periodParams());
  const now = new Date();
  c.year.value = String(now.getFullYear());
  c.quarter.value = String(Math.floor(now.getMonth() / 3) + 1);
  c.month.value = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
  const p = asked.period || "";
  let m;
  if ((m = /^(\d{4})$/.exec(p))) {
    c.kind.value = "year"; c.year.value = m[1];
  } else if ((m = /^(\d{4})-[Qq]([1-4])$/.exec(p))) {
    c.kind.value = "quarter"; c.year.value = m[1]; c.quarter.value = m[2];
  } else if (/^\d{4}-\d{2}$/.test(p)) {
    c.kind.value = "month"; c.month.value = p;
  } else if (p || asked.from || asked.to) {
    c.kind.value = "custom"; c.from.value = asked.from || p; c.to.value = asked.to || p;
  } else {
    c.kind.value = "all";
  }
  showPeriodFields(c);
}

/** What the chooser says, as query parameters. */
function chosenPeriod(c) {
  switch (c.kind.value) {
    case "year": return [["period", c.year.value]];
    case "quarter": return [["period", `${c.year.value}-Q${c.quarter.value}`]];
    case "month": return [["period", c.month.value]];
    case "custom": return [["from", c.from.value], ["to", c.to.value]].filter(([, v]) => v);
    default: return [];
  }
}

/** The CSV links, and the links to this page in the other languages, carry the period. */
function linkCsv() {
  for (const link of document.querySelectorAll("#dashboard .csv a, a[hreflang]")) {
    const url = new URL(link.getAttribute("href"), location.origin);
    for (const k of PERIOD_KEYS) url.searchParams.delete(k);
    link.setAttribute("href", withPeriod(url.pathname + url.search));
  }
}

function startChooser() {
  const c = periodControls();
  setChooser(c);
  linkCsv();
  c.kind.addEventListener("change", () => showPeriodFields(c));
  document.getElementById("period-chooser").addEventListener("submit", (event) => {
    event.preventDefault();
    const url = new URL(location.href);
    for (const k of PERIOD_KEYS) url.searchParams.delete(k);
    for (const [k, v] of chosenPeriod(c)) url.searchParams.set(k, v);
    history.pushState(null, "", url.pathname + url.search);
    linkCsv();
    refresh();
  });
  window.addEventListener("popstate", () => {
    setChooser(c);
    linkCsv();
    refresh();
  });
}

function dayText(day) {
  return day ? longDayFormat.format(new Date(`${day}T00:00:00Z`)) : "…";
}

/** In a period, the headline sentence and the note say which cases are counted. */
function drawPeriodLine(summary, whole) {
  const asked = summary.period || {};
  const shown = document.getElementById("period-shown");
  if (!asked.from && !asked.to) {
    shown.textContent = "";
    return false;
  }
  const bounds = { from: dayText(asked.from), to: dayText(asked.to) };
  shown.textContent = t("dashboard.period_shown", bounds);
  document.getElementById("article-line").textContent = t("dashboard.period_line", {
    ...bounds, received: formatNumber(summary.received), resolved: formatNumber(summary.resolved),
    rate: whole === null ? "—" : `${whole}%`,
  });
  return true;
}

function drawSkipped(skipped, minCases) {
  const note = document.getElementById("ranking-skipped");
  note.textContent = skipped.length ? t("dashboard.ranking_skipped", {
    min: formatNumber(minCases),
    departments: skipped.map((d) => `${nameOf("department", { ...d, value: d.code })} (${formatNumber(d.received)})`).join(", "),
  }) : "";
}

/** The public record's chain head (short), beside the link to check the figures (open data). */
async function drawChain() {
  const chain = await readChain();
  const shown = document.getElementById("dash-chain");
  if (!chain.ok) return;
  if (!chain.head) {
    shown.textContent = t("dashboard.chain_none");
    return;
  }
  const [before, after] = t("dashboard.chain", { head: "\u0000", day: dayText(chain.day) }).split("\u0000");
  replace(shown, before, h("code", { title: chain.head, id: "dash-chain-head" }, shortHead(chain.head)), after);
}

startChooser();
loop();
drawChain();

// the map of cases: a block of its own (dashmap.js)
import("./dashmap.js");

// The public record's hash chain as the open data service publishes it (/open-data/days.json):
// its head, the last day published, and how many days and events it holds. Read by the open
// data page and the dashboard, which show the head so anyone can compare it with theirs.

import { api } from "./app.js";

/** `{ok, head, day, days, events}`; `head` null while no day is published; `ok` false when the
 * manifest cannot be read. */
export async function readChain() {
  const answer = await api("/open-data/days.json");
  if (!answer.ok) return { ok: false, head: null, day: null, days: 0, events: 0 };
  const days = Array.isArray(answer.data.days) ? answer.data.days : [];
  const last = days.length ? days[days.length - 1] : null;
  return {
    ok: true,
    head: typeof answer.data.head === "string" ? answer.data.head : null,
    day: answer.data.head_day || (last && last.day) || null,
    days: days.length,
    events: days.reduce((sum, entry) => sum + (Number(entry.events) || 0), 0),
  };
}

/** The head as people quote it: its first 12 hex digits (the whole head in the title). */
export function shortHead(head) {
  return head ? head.slice(0, 12) : "";
}

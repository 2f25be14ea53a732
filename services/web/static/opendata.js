// The open data page: what is published and how to verify it (the page's own text), the hash
// chain's head and last published day (read from /open-data/days.json), and the verifier's
// commands with this site's address as the browser sees it.

import { formatDate, formatNumber, t } from "./app.js";
import { readChain } from "./chain.js";

const root = document.getElementById("open-data");

function showSite() {
  for (const command of document.querySelectorAll(".verify-command")) {
    command.textContent = command.textContent.replace(/--from \S+$/, `--from ${location.origin}`);
  }
}

async function showChain() {
  const chain = await readChain();
  const head = document.getElementById("chain-head");
  const day = document.getElementById("chain-day");
  const state = document.getElementById("chain-state");
  root.dataset.chain = !chain.ok ? "unavailable" : chain.head ? "published" : "empty";
  if (!chain.ok) {
    state.textContent = t("opendata.chain_unavailable");
    return;
  }
  if (!chain.head) {
    state.textContent = t("opendata.chain_none");
    return;
  }
  head.textContent = chain.head;
  day.textContent = formatDate(`${chain.day}T12:00:00Z`);
  day.dataset.day = chain.day;
  state.textContent = t("opendata.chain_days", {
    days: formatNumber(chain.days), events: formatNumber(chain.events),
  });
}

showSite();
await showChain();
root.dataset.ready = "true";

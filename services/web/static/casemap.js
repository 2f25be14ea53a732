// A map of the public cases (the case list's and the dashboard's): clustered points of the
// cases whose place is public, from /api/cases/map with the same filters as the list beside
// it; the cases whose place is private are only counted, by district, under the map.

import { api, failure, t, withLang } from "./app.js";
import { caseLayer, makeMap, summary } from "./map.js";

const MAP_FILTERS = ["status", "category", "district", "department"];

/**
 * Draw the cases `params` (a URLSearchParams of the list's filters) find on the map in
 * `view.element`, with a line in `view.count` saying what the map shows and what it leaves off.
 */
export async function showCaseMap(view, params) {
  if (!view.started) {
    view.started = makeMap(document.getElementById(view.element), { label: t("map.cases_title") })
      .then((made) => {
        if (made) view.draw = caseLayer(made.L, made.map, { link: (id) => `/cases/${encodeURIComponent(id)}` });
        return made;
      });
  }
  const asked = new URLSearchParams();
  for (const name of MAP_FILTERS) for (const value of params.getAll(name)) asked.append(name, value);
  const counter = document.getElementById(view.count);
  const [made, answer] = await Promise.all([view.started, api(withLang(`/api/cases/map?${asked}`))]);
  if (!answer.ok) {
    counter.textContent = failure(answer);
    return;
  }
  if (made) view.draw(answer.data);
  counter.textContent = summary(answer.data);
  document.getElementById(view.element).dataset.points = String(answer.data.features.length);
}

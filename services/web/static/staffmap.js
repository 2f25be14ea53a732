// Staff's map of their open cases (a department's: the ones it leads or assists), drawn when
// opened and again each time: /api/staff/cases/map with the staff token. The points are those
// the read model holds in clear; a private place's stays sealed, read on the case's own
// details (audited), and the map counts those cases by district.

import { failure, t } from "./app.js";
import { caseLayer, makeMap, summary } from "./map.js";

export function startStaffMap(staffApi) {
  const block = document.getElementById("staff-map-block");
  const counter = document.getElementById("staff-map-count");
  const element = document.getElementById("staff-map");
  let made = null;
  let draw = null;
  block.addEventListener("toggle", async () => {
    if (!block.open) return;
    if (!made) {
      made = await makeMap(element, { label: t("map.staff_title") });
      if (made) draw = caseLayer(made.L, made.map, { link: (id) => `/cases/${encodeURIComponent(id)}` });
    } else {
      made.map.invalidateSize();
    }
    const answer = await staffApi("/api/staff/cases/map");
    if (!answer.ok) {
      counter.textContent = failure(answer);
      return;
    }
    if (draw) draw(answer.data);
    counter.textContent = summary(answer.data, { staff: true });
    element.dataset.points = String(answer.data.features.length);
  });
}

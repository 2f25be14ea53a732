// Small hand-made SVG charts: bars by group and a trend by day. Colours come from the
// stylesheet (classes), so night mode applies; each chart has a title for screen readers
// and the page offers its numbers as a table too.

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function niceMax(value) {
  if (value <= 0) return 1;
  if (value <= 4) return Math.ceil(value);
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

/**
 * Horizontal bars, one row per group: `rows` = [{label, value, value2?, note?}].
 * `value2` (drawn over `value`, e.g. resolved over received) is optional.
 */
export function bars(rows, { title, format = String, width = 640 } = {}) {
  const rowHeight = 30;
  const labelWidth = Math.min(220, Math.max(90, width * 0.32));
  const noteWidth = 124;
  const plot = width - labelWidth - noteWidth;
  const height = Math.max(rowHeight, rows.length * rowHeight) + 6;
  const max = niceMax(Math.max(0, ...rows.map((r) => Math.max(r.value, r.value2 || 0))));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.appendChild(s("title", {}, title));
  rows.forEach((row, index) => {
    const y = index * rowHeight + 4;
    const w = (row.value / max) * plot;
    svg.appendChild(s("text", { x: labelWidth - 8, y: y + 16, class: "label", "text-anchor": "end" },
      row.label.length > 14 ? `${row.label.slice(0, 13)}…` : row.label));
    svg.appendChild(s("rect", { x: labelWidth, y: y + 3, width: Math.max(w, row.value ? 2 : 0), height: 18, rx: 4, class: "bar" }));
    if (row.value2 !== undefined && row.value2 !== null) {
      const w2 = (row.value2 / max) * plot;
      svg.appendChild(s("rect", { x: labelWidth, y: y + 8, width: Math.max(w2, row.value2 ? 2 : 0), height: 8, rx: 3, class: "bar-2" }));
    }
    svg.appendChild(s("text", { x: labelWidth + Math.max(w, 0) + 6, y: y + 16, class: "value" },
      row.note !== undefined ? row.note : format(row.value)));
  });
  return svg;
}

/** A trend by day: `days` = [{day, values: [a, b]}], one line per series. */
export function trend(days, { title, width = 860, height = 240, format = String, dayLabel = (d) => d } = {}) {
  const pad = { left: 40, right: 12, top: 12, bottom: 28 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const series = days.length ? days[0].values.length : 0;
  const max = niceMax(Math.max(0, ...days.flatMap((d) => d.values)));
  const x = (i) => pad.left + (days.length <= 1 ? plotW / 2 : (i / (days.length - 1)) * plotW);
  const y = (v) => pad.top + plotH - (v / max) * plotH;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.appendChild(s("title", {}, title));
  const ticks = max < 4 ? max : 4; // whole numbers of cases on the axis
  for (let i = 0; i <= ticks; i += 1) {
    const value = (max / ticks) * i;
    svg.appendChild(s("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: "grid" }));
    svg.appendChild(s("text", { x: pad.left - 6, y: y(value) + 4, class: "axis", "text-anchor": "end" },
      format(Math.round(value))));
  }
  const every = Math.max(1, Math.ceil(days.length / 8));
  days.forEach((d, i) => {
    if (i % every === 0 || i === days.length - 1) {
      svg.appendChild(s("text", { x: x(i), y: height - 8, class: "axis", "text-anchor": "middle" }, dayLabel(d.day)));
    }
  });
  for (let k = 0; k < series; k += 1) {
    const points = days.map((d, i) => `${x(i).toFixed(1)},${y(d.values[k]).toFixed(1)}`).join(" ");
    svg.appendChild(s("polyline", { points, class: `line-${k + 1}` }));
    days.forEach((d, i) => {
      svg.appendChild(s("circle", { cx: x(i), cy: y(d.values[k]), r: days.length > 40 ? 1.5 : 3, class: `dot-${k + 1}` },
        s("title", {}, `${dayLabel(d.day)}: ${format(d.values[k])}`)));
    });
  }
  return svg;
}

// The pages' maps: Leaflet and its clustering plugin (npm packages, served from /static/vendor/,
// loaded only by a page that draws a map), on the tiles the deployment configured
// (`config.map`: ZAIBAN_MAP_TILES and its datum). Every position the pages hold is WGS84; it
// is converted for the tiles on the way in (`toMap`) and back on the way out (`fromMap`), so a
// point picked on GCJ-02 tiles is sent in WGS84 (geo.js). A map is never the only way: each
// page keeps its fields and lists beside it.

import { config, h, t } from "./app.js";
import { datumOf } from "./geo.js";

const VENDOR = "/static/vendor";
const STYLES = [`${VENDOR}/leaflet/leaflet.css`,
  `${VENDOR}/leaflet.markercluster/MarkerCluster.css`,
  `${VENDOR}/leaflet.markercluster/MarkerCluster.Default.css`];
const SCRIPTS = [`${VENDOR}/leaflet/leaflet.js`,
  `${VENDOR}/leaflet.markercluster/leaflet.markercluster.js`];

let loading = null;

function script(src) {
  return new Promise((resolve, reject) => {
    const element = h("script", { src });
    element.addEventListener("load", resolve);
    element.addEventListener("error", () => reject(new Error(`cannot load ${src}`)));
    document.head.appendChild(element);
  });
}

/** Leaflet (`window.L`, with markerClusterGroup), loaded once. */
export function leaflet() {
  if (!loading) {
    for (const href of STYLES) document.head.appendChild(h("link", { rel: "stylesheet", href }));
    loading = SCRIPTS.reduce((done, src) => done.then(() => script(src)), Promise.resolve())
      .then(() => window.L);
  }
  return loading;
}

export const datum = datumOf((config.map && config.map.datum) || "wgs84");

/** The city's bounds as the map's LatLngBounds (in the tiles' datum). */
function cityBounds(L) {
  const b = config.city.bounds;
  return L.latLngBounds(datum.toMap(b.min_lat, b.min_lon), datum.toMap(b.max_lat, b.max_lon));
}

/** Whether a WGS84 point lies in the city's bounds (what intake accepts). */
export function inCity(lat, lon) {
  const b = config.city.bounds;
  return lat >= b.min_lat && lat <= b.max_lat && lon >= b.min_lon && lon <= b.max_lon;
}

/**
 * A map in `element` on the configured tiles, showing the city: `{L, map}`, or null when the
 * library could not load (the page then works without it, with a note in `element`).
 */
export async function makeMap(element, { label, zoom = null, center = null } = {}) {
  let L;
  try {
    L = await leaflet();
  } catch (error) {
    element.replaceChildren(h("p", { class: "note" }, t("map.unavailable")));
    element.classList.add("map-missing");
    return null;
  }
  element.setAttribute("role", "region");
  element.setAttribute("aria-label", label || t("map.label"));
  const bounds = cityBounds(L);
  // the deepest zoom is the map's own, not only its tiles': without tiles it has none else
  const maxZoom = (config.map && config.map.max_zoom) || 18;
  const map = L.map(element, { maxZoom, maxBounds: bounds.pad(0.5), maxBoundsViscosity: 0.8 });
  const tiles = config.map && config.map.tiles;
  if (tiles) {
    L.tileLayer(tiles, {
      maxZoom,
      attribution: config.map.attribution || "",
    }).addTo(map);
  }
  if (center) map.setView(datum.toMap(center[0], center[1]), zoom || 15);
  else map.fitBounds(bounds);
  element.dataset.map = "ready";
  return { L, map };
}

/** A marker at a WGS84 point. */
export function marker(L, lat, lon, options = {}) {
  return L.marker(datum.toMap(lat, lon), { keyboard: true, ...options });
}

/** The WGS84 point of a position on the map (a click, a dragged marker). */
export function pointOf(latlng) {
  const [lat, lon] = datum.fromMap(latlng.lat, latlng.lng);
  return { lat: Number(lat.toFixed(6)), lon: Number(lon.toFixed(6)) };
}

/**
 * A clustered layer of GeoJSON cases (`/api/cases/map`, `/api/staff/cases/map`): each point
 * a marker whose popup links the case's page (`link(id)`). Returns a function that draws a
 * new answer; the cases without a point are not drawn: `summary` says how many, by district.
 */
export function caseLayer(L, map, { link }) {
  const clusters = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50 });
  clusters.addTo(map);
  let framed = false; // the first answer with points frames them; later the reader's view stays
  return (answer) => {
    clusters.clearLayers();
    for (const feature of answer.features) {
      const [lon, lat] = feature.geometry.coordinates;
      const p = feature.properties;
      const title = `${p.icon || ""} ${p.category_name} · ${p.status_name}`.trim();
      const popup = h("div", { class: "map-popup" },
        h("strong", {}, title), h("br"),
        [p.street, p.district_name].filter(Boolean).join(" · "), h("br"),
        h("a", { href: link(p.case_id) }, p.case_id));
      const one = marker(L, lat, lon, { title, alt: title });
      one.bindPopup(popup);
      clusters.addLayer(one);
    }
    if (!framed && answer.features.length) {
      framed = true;
      map.fitBounds(clusters.getBounds().pad(0.2), { maxZoom: 15 });
    }
  };
}

/** What a map answer shows and leaves off (`staff`: any point, else public places'), in words. */
export function summary(answer, { staff = false } = {}) {
  const elsewhere = answer.elsewhere || [];
  const off = elsewhere.reduce((sum, area) => sum + area.count, 0);
  const parts = [t(staff ? "map.shown_staff" : "map.shown",
    { count: answer.features.length, placed: answer.placed })];
  if (answer.truncated) parts.push(t("map.truncated"));
  if (off) {
    parts.push(t(staff ? "map.elsewhere_staff" : "map.elsewhere", { count: off }));
    parts.push(elsewhere.map((area) => t("map.district_count",
      { district: area.name, count: area.count })).join(" · "));
  }
  return parts.join(" ");
}

// Positions between WGS84 (what zaiban stores, what GPS gives) and GCJ-02, the datum the maps
// of Chinese cities mostly use (AMap, Tianditu's Chinese tiles, Tencent): a point stored in
// WGS84 drawn on GCJ-02 tiles lands a few hundred metres off unless it is converted first.
// The one place the browser converts (map.js); pure, no DOM, so node runs its test
// (tests/unit/web/test_gcj02.py).
//
// GCJ-02 is the well-known public algorithm (Krasovsky 1940 ellipsoid and the published
// offset polynomials); outside China it is the identity. Going back has no closed form: the
// inverse is found by fixed-point iteration, exact to a few millimetres.

const A = 6378245.0; // Krasovsky 1940 semi-major axis, metres
const EE = 0.00669342162296594323; // its first eccentricity squared

/** Whether GCJ-02 leaves the point alone: the usual rectangle around China. */
export function outOfChina(lat, lon) {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

function offsetLat(x, y) {
  let ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  ret += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  ret += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  ret += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  return ret;
}

function offsetLon(x, y) {
  let ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  ret += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  ret += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  ret += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  return ret;
}

/** [lat, lon] in GCJ-02 of a WGS84 point. */
export function wgs84ToGcj02(lat, lon) {
  if (outOfChina(lat, lon)) return [lat, lon];
  let dLat = offsetLat(lon - 105.0, lat - 35.0);
  let dLon = offsetLon(lon - 105.0, lat - 35.0);
  const radLat = (lat / 180.0) * Math.PI;
  let magic = Math.sin(radLat);
  magic = 1 - EE * magic * magic;
  const sqrtMagic = Math.sqrt(magic);
  dLat = (dLat * 180.0) / (((A * (1 - EE)) / (magic * sqrtMagic)) * Math.PI);
  dLon = (dLon * 180.0) / ((A / sqrtMagic) * Math.cos(radLat) * Math.PI);
  return [lat + dLat, lon + dLon];
}

/** [lat, lon] in WGS84 of a GCJ-02 point: the WGS84 point whose GCJ-02 image it is. */
export function gcj02ToWgs84(lat, lon) {
  if (outOfChina(lat, lon)) return [lat, lon];
  let [wLat, wLon] = [lat, lon];
  for (let i = 0; i < 30; i += 1) {
    const [gLat, gLon] = wgs84ToGcj02(wLat, wLon);
    const [eLat, eLon] = [gLat - lat, gLon - lon];
    wLat -= eLat;
    wLon -= eLon;
    if (Math.abs(eLat) < 1e-10 && Math.abs(eLon) < 1e-10) break;
  }
  return [wLat, wLon];
}

/** Between the stored datum (WGS84) and the tiles' (`datum`: "wgs84" or "gcj02"). */
export function datumOf(datum) {
  const gcj = datum === "gcj02";
  return {
    toMap: (lat, lon) => (gcj ? wgs84ToGcj02(lat, lon) : [lat, lon]),
    fromMap: (lat, lon) => (gcj ? gcj02ToWgs84(lat, lon) : [lat, lon]),
  };
}

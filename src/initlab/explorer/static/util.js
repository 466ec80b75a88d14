// Small shared helpers: number formats, colours, SVG element creation, axis ticks.

export const SVG_NS = "http://www.w3.org/2000/svg";

// Okabe-Ito, the colour-blind-safe palette; start A blue, start B orange.
export const OKABE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
export const START_COLOR = { A: "#0072B2", B: "#E69F00" };
export const POSITIVE = "#0072B2";
export const NEGATIVE = "#D55E00";

/** A number as toPrecision(p); null/undefined (a NaN on the server) as a dash. */
export function num(x, p = 4) {
  if (x === null || x === undefined) return "–";
  if (typeof x !== "number" || !Number.isFinite(x)) return String(x);
  return x.toPrecision(p);
}

/** A share in [0, 1] as a percentage with one decimal. */
export function pct(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return `${(100 * x).toFixed(1)}%`;
}

/** Create an SVG element with attributes, appended to parent when given. */
export function svg(tag, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

export function text(parent, x, y, content, attrs = {}) {
  const t = svg("text", { x, y, ...attrs }, parent);
  t.textContent = content;
  return t;
}

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** A short label for a tick value. */
export function tickLabel(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return Number(v.toPrecision(6)).toExponential().replace("e+", "e");
  return String(Number(v.toPrecision(6)));
}

/** The median of finite numbers (null when there are none). */
export function median(xs) {
  const v = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const h = v.length >> 1;
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

export function finiteMin(xs) {
  let m = Infinity;
  for (const x of xs) if (typeof x === "number" && Number.isFinite(x) && x < m) m = x;
  return m === Infinity ? null : m;
}

export function finiteMax(xs) {
  let m = -Infinity;
  for (const x of xs) if (typeof x === "number" && Number.isFinite(x) && x > m) m = x;
  return m === -Infinity ? null : m;
}

/** Replace the children of an element with nothing. */
export function clear(e) {
  while (e.firstChild) e.removeChild(e.firstChild);
}

// The SVG charts: the cost curve, the per-layer activation histograms and the layer-health chart.
// Each chart builds its elements once per run (config) and only updates attributes per frame.

import { START_COLOR, svg, text, ticks, tickLabel, median, finiteMin, finiteMax, clear } from "./util.js";

const MAX_POINTS = 2000; // per start, in the cost curve
const KEEP_RECENT = 500; // the newest points are never thinned

/** y = f(value) for a linear or log axis over [lo, hi] onto [bottom, top]. */
function scale(lo, hi, a, b, log) {
  if (log) {
    const l0 = Math.log10(lo), l1 = Math.log10(hi);
    return (v) => a + ((Math.log10(Math.max(v, lo)) - l0) / (l1 - l0 || 1)) * (b - a);
  }
  return (v) => a + ((v - lo) / (hi - lo || 1)) * (b - a);
}

function logTicks(lo, hi) {
  const out = [];
  const e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi));
  const every = Math.max(1, Math.ceil((e1 - e0) / 6));
  for (let e = e0; e <= e1; e += every) out.push(10 ** e);
  return out;
}

function logLabel(v) {
  const e = Math.round(Math.log10(v));
  return e >= -2 && e <= 3 ? String(Number(v.toPrecision(1))) : `1e${e}`;
}

/** Draw axis ticks, grid lines and tick labels into group g. */
function drawAxes(g, box, xTicks, xs, yTicks, ys, yLabel = tickLabel, xLabel = tickLabel) {
  clear(g);
  const { l, r, t, b } = box;
  for (const v of yTicks) {
    const y = ys(v);
    svg("line", { x1: l, x2: r, y1: y, y2: y, class: "grid" }, g);
    text(g, l - 6, y + 4, yLabel(v), { class: "tick", "text-anchor": "end" });
  }
  for (const v of xTicks) {
    const x = xs(v);
    svg("line", { x1: x, x2: x, y1: b, y2: b + 5, class: "axis" }, g);
    text(g, x, b + 18, xLabel(v), { class: "tick", "text-anchor": "middle" });
  }
  svg("line", { x1: l, x2: r, y1: b, y2: b, class: "axis" }, g);
  svg("line", { x1: l, x2: l, y1: t, y2: b, class: "axis" }, g);
}

function pathOf(xs, ys, sx, sy) {
  let d = "";
  let pen = false;
  for (let i = 0; i < xs.length; i++) {
    const y = ys[i];
    if (y === null || !Number.isFinite(y)) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${sx(xs[i]).toFixed(1)} ${sy(y).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** The cost against the step: one line per start (the median over its seeds) and a min-max band. */
export class CostChart {
  constructor(el) {
    this.el = el;
    this.H = 280;
    this.W = 0;
    this.log = false;
    this.choice = null; // the reader's choice of scale; null: log when the costs span more than 3 decades
    this.series = [];
    this.starts = [];
    this.axisKey = "";
    clear(el);
    this.gFrame = svg("g", {}, el);
    this.gAxes = svg("g", {}, el);
    this.ref = svg("line", { class: "ref", visibility: "hidden" }, el);
    this.refText = text(el, 0, 0, "", { class: "ref-label", "text-anchor": "start" });
    this.gData = svg("g", {}, el);
    this.gLegend = svg("g", {}, el);
  }

  /** Read the element's width (before any drawing writes, so the browser lays out once). */
  measure() {
    this.cssW = this.el.clientWidth;
  }

  /** Size the drawing to the element's width in CSS pixels (so text stays readable on a phone). */
  layout(force = false) {
    const W = Math.round(Math.min(900, Math.max(340, this.cssW || 800)) / 20) * 20;
    if (W === this.W && !force) return;
    this.W = W;
    const narrow = W < 560;
    this.H = narrow ? 240 : 280;
    this.el.setAttribute("viewBox", `0 0 ${W} ${this.H}`);
    this.box = { l: 58, r: W - 14, t: 12 + 16 * Math.max(1, this.starts.length), b: this.H - 44 };
    const { l, r, t, b } = this.box;
    clear(this.gFrame);
    text(this.gFrame, (l + r) / 2, this.H - 6, "step (gradient updates)", { class: "axis-label", "text-anchor": "middle" });
    text(this.gFrame, 0, 0, "cost (cross-entropy)", {
      class: "axis-label", "text-anchor": "middle", transform: `translate(14 ${(t + b) / 2}) rotate(-90)`,
    });
    clear(this.gLegend);
    this.starts.forEach((s, i) => {
      const color = START_COLOR[s.label] ?? "#000";
      const x = l + 4, y = 10 + 16 * i;
      svg("line", { x1: x, x2: x + 22, y1: y, y2: y, stroke: color, class: "legend-line" }, this.gLegend);
      const many = s.models.length > 1 ? ` (median and range of ${s.models.length} seeds)` : "";
      text(this.gLegend, x + 28, y + 4, `${s.label}: ${s.weights}${many}`, { class: "legend" });
    });
    this.axisKey = "";
  }

  /** A fresh run: one series per start; classes places the line of the chance cost. */
  reset(starts, classes) {
    this.classes = classes;
    this.starts = starts;
    clear(this.gData);
    this.series = starts.map((s) => {
      const color = START_COLOR[s.label] ?? "#000";
      const band = svg("path", { class: "band", fill: color }, this.gData);
      const line = svg("path", { class: "line", stroke: color }, this.gData);
      const dot = svg("circle", { r: 3.5, fill: color, visibility: "hidden" }, this.gData);
      return { models: s.models, steps: [], med: [], lo: [], hi: [], band, line, dot, many: s.models.length > 1 };
    });
    this.layout(true);
  }

  /** Append cost points: steps[i] with values[i][model]; steps not after the last one are skipped. */
  append(steps, values) {
    for (const s of this.series) {
      for (let i = 0; i < steps.length; i++) {
        const last = s.steps.length ? s.steps[s.steps.length - 1] : -1;
        if (steps[i] <= last) continue;
        const row = values[i] ?? [];
        const vals = s.models.map((k) => row[k]);
        s.steps.push(steps[i]);
        s.med.push(median(vals));
        s.lo.push(finiteMin(vals));
        s.hi.push(finiteMax(vals));
      }
      if (s.steps.length > MAX_POINTS) thin(s);
    }
  }

  setLog(log) {
    this.choice = log;
    this.axisKey = "";
  }

  draw() {
    this.layout();
    const { l, r, t, b } = this.box;
    let xmax = 10, ymax = null, ymin = null;
    for (const s of this.series) {
      if (s.steps.length) xmax = Math.max(xmax, s.steps[s.steps.length - 1]);
      const hi = finiteMax(s.hi), lo = finiteMin(s.lo.filter((v) => v > 0));
      if (hi !== null) ymax = ymax === null ? hi : Math.max(ymax, hi);
      if (lo !== null) ymin = ymin === null ? lo : Math.min(ymin, lo);
    }
    if (ymax === null || !(ymax > 0)) ymax = 1;
    this.log = this.choice ?? (ymin !== null && ymax / ymin > 1e3);
    let ylo, yhi, yTicks, yLabel;
    if (this.log) {
      ymin = ymin ?? ymax / 10;
      ylo = 10 ** Math.floor(Math.log10(ymin));
      yhi = 10 ** Math.ceil(Math.log10(ymax));
      if (yhi <= ylo) yhi = ylo * 10;
      yTicks = logTicks(ylo, yhi);
      yLabel = logLabel;
    } else {
      ylo = 0;
      yTicks = ticks(0, ymax * 1.05, 5);
      yhi = Math.max(ymax * 1.05, yTicks[yTicks.length - 1]);
      yLabel = tickLabel;
    }
    const xTicks = ticks(0, xmax, 6);
    const xhi = Math.max(xmax, xTicks[xTicks.length - 1]);
    const sx = scale(0, xhi, l, r, false);
    const sy = scale(ylo, yhi, b, t, this.log);
    const key = `${xhi}|${ylo}|${yhi}|${this.log}`;
    if (key !== this.axisKey) {
      this.axisKey = key;
      drawAxes(this.gAxes, this.box, xTicks, sx, yTicks, sy, yLabel);
      // the cost of a guess that ignores the input: ln 2 for two classes, ln k for k
      const k = this.classes, chance = Math.log(k);
      if (k >= 2 && chance > ylo && chance < yhi) {
        const y = sy(chance).toFixed(1);
        Object.entries({ x1: l, x2: r, y1: y, y2: y, visibility: "visible" }).forEach(([k, v]) => this.ref.setAttribute(k, v));
        this.refText.setAttribute("x", l + 6);
        this.refText.setAttribute("y", y - 4);
        this.refText.textContent = k === 2 ? "ln 2: the cost of always answering 0.5" : `ln ${k}: the cost of answering 1/${k} for every class`;
      } else {
        this.ref.setAttribute("visibility", "hidden");
        this.refText.textContent = "";
      }
    }
    for (const s of this.series) {
      s.line.setAttribute("d", pathOf(s.steps, s.med, sx, sy));
      const n = s.steps.length, y = n ? s.med[n - 1] : null;
      if (y !== null && Number.isFinite(y)) {
        s.dot.setAttribute("cx", sx(s.steps[n - 1]).toFixed(1));
        s.dot.setAttribute("cy", sy(y).toFixed(1));
        s.dot.setAttribute("visibility", "visible");
      } else {
        s.dot.setAttribute("visibility", "hidden");
      }
      if (s.many) {
        const idx = [];
        for (let i = 0; i < s.steps.length; i++) if (s.lo[i] !== null && s.hi[i] !== null) idx.push(i);
        let d = "";
        if (idx.length > 1) {
          d = idx.map((i, j) => `${j ? "L" : "M"}${sx(s.steps[i]).toFixed(1)} ${sy(s.hi[i]).toFixed(1)}`).join("");
          d += idx.reverse().map((i) => `L${sx(s.steps[i]).toFixed(1)} ${sy(s.lo[i]).toFixed(1)}`).join("") + "Z";
        }
        s.band.setAttribute("d", d);
      } else {
        s.band.setAttribute("d", "");
      }
    }
  }
}

/** Halve the older points of a series (every other one), keeping the newest KEEP_RECENT intact. */
function thin(s) {
  const cut = s.steps.length - KEEP_RECENT;
  for (const key of ["steps", "med", "lo", "hi"]) {
    const a = s[key];
    const older = a.slice(0, cut).filter((_, i) => i % 2 === 0);
    s[key] = older.concat(a.slice(cut));
  }
}

/** Labels for the ends of a range, with enough digits to tell them apart. */
function rangeLabels(lo, hi) {
  for (let p = 3; p <= 8; p++) {
    const a = tickLabel(Number(lo.toPrecision(p))), b = tickLabel(Number(hi.toPrecision(p)));
    if (a !== b || p === 8) return [a, b];
  }
  return [String(lo), String(hi)];
}

/** One small histogram of the activations per layer. */
export class Histograms {
  constructor(el) {
    this.el = el;
    this.panels = [];
  }

  measure() {
    this.cssW = this.el.clientWidth;
  }

  columns(L) {
    return Math.max(1, Math.min(L, Math.floor((this.cssW || 600) / 145)));
  }

  build(L, hidden, output) {
    clear(this.el);
    this.args = [L, hidden, output];
    const cols = this.columns(L);
    this.cols = cols;
    const pw = 150, ph = 128;
    const rows = Math.ceil(L / cols);
    this.el.setAttribute("viewBox", `0 0 ${cols * pw} ${rows * ph}`);
    this.panels = [];
    for (let l = 1; l <= L; l++) {
      const x0 = ((l - 1) % cols) * pw, y0 = Math.floor((l - 1) / cols) * ph;
      const g = svg("g", { transform: `translate(${x0} ${y0})` }, this.el);
      text(g, pw / 2, 14, l === L ? `output · ${output}` : `layer ${l} · ${hidden}`, { class: "panel-title", "text-anchor": "middle" });
      const left = 10, right = pw - 10, top = 22, bottom = ph - 26;
      svg("line", { x1: left, x2: right, y1: bottom, y2: bottom, class: "axis" }, g);
      const bw = (right - left) / 20;
      const bars = [];
      for (let i = 0; i < 20; i++) {
        bars.push(svg("rect", { x: (left + i * bw + 0.5).toFixed(1), width: Math.max(bw - 1, 0.5).toFixed(1), y: bottom, height: 0, class: "bar" }, g));
      }
      const lo = text(g, left, bottom + 14, "", { class: "tick", "text-anchor": "start" });
      const hi = text(g, right, bottom + 14, "", { class: "tick", "text-anchor": "end" });
      this.panels.push({ bars, lo, hi, top, bottom });
    }
  }

  update(layers, color) {
    if (this.args && this.columns(this.args[0]) !== this.cols) this.build(...this.args);
    layers.forEach((layer, i) => {
      const p = this.panels[i];
      if (!p || !layer.hist) return;
      const { edges, counts } = layer.hist;
      const max = Math.max(1, ...counts);
      counts.forEach((c, j) => {
        const h = ((p.bottom - p.top) * c) / max;
        const bar = p.bars[j];
        if (!bar) return;
        bar.setAttribute("y", (p.bottom - h).toFixed(1));
        bar.setAttribute("height", h.toFixed(1));
        bar.setAttribute("fill", color);
      });
      const [lo, hi] = edges.length ? rangeLabels(edges[0], edges[edges.length - 1]) : ["", ""];
      p.lo.textContent = lo;
      p.hi.textContent = hi;
    });
  }
}

/** Saturated and dead shares per layer (bars), and the activations' std per layer (log scale). */
export class Shares {
  constructor(el) {
    this.el = el;
  }

  build(L, labels) {
    const el = this.el;
    clear(el);
    this.L = L;
    this.labels = labels;
    this.narrow = this.isNarrow();
    // side by side in 800 x 240, or stacked in 420 x 480 on a narrow screen
    const dy = this.narrow ? 240 : 0, dx = this.narrow ? -428 : 0;
    el.setAttribute("viewBox", this.narrow ? "0 0 420 480" : "0 0 800 240");
    const defs = svg("defs", {}, el);
    for (const s of labels) {
      const p = svg("pattern", { id: `hatch-${s}`, patternUnits: "userSpaceOnUse", width: 6, height: 6, patternTransform: "rotate(45)" }, defs);
      svg("rect", { width: 6, height: 6, fill: "#fff" }, p);
      svg("line", { x1: 1.5, y1: 0, x2: 1.5, y2: 6, stroke: START_COLOR[s], "stroke-width": 3 }, p);
    }
    // left panel: shares
    this.left = { l: 52, r: this.narrow ? 404 : 390, t: 26, b: 196 };
    this.right = { l: 480 + dx, r: 784 + dx + (this.narrow ? 40 : 0), t: 26 + dy, b: 196 + dy };
    const lb = this.left;
    text(el, (lb.l + lb.r) / 2, 14, "saturated (solid) and dead (hatched) units", { class: "panel-title", "text-anchor": "middle" });
    const sy = scale(0, 1, lb.b, lb.t, false);
    const gl = svg("g", {}, el);
    const slot = (lb.r - lb.l) / L;
    drawAxes(gl, lb, [], null, [0, 0.25, 0.5, 0.75, 1], sy, (v) => `${v * 100}%`);
    for (let l = 1; l <= L; l++) text(gl, lb.l + slot * (l - 0.5), lb.b + 18, String(l), { class: "tick", "text-anchor": "middle" });
    text(el, (lb.l + lb.r) / 2, 230, "layer", { class: "axis-label", "text-anchor": "middle" });
    const nb = labels.length * 2;
    const bw = Math.min(14, (slot - 8) / nb);
    this.bars = labels.map((s, si) => {
      const out = [];
      for (let l = 1; l <= L; l++) {
        const x0 = lb.l + slot * (l - 0.5) - (nb * bw) / 2 + si * 2 * bw;
        const sat = svg("rect", { x: x0.toFixed(1), width: (bw - 1).toFixed(1), y: lb.b, height: 0, fill: START_COLOR[s], stroke: START_COLOR[s] }, el);
        const dead = svg("rect", { x: (x0 + bw).toFixed(1), width: (bw - 1).toFixed(1), y: lb.b, height: 0, fill: `url(#hatch-${s})`, stroke: START_COLOR[s] }, el);
        const t1 = svg("title", {}, sat), t2 = svg("title", {}, dead);
        out.push({ sat, dead, t1, t2 });
      }
      return out;
    });
    // right panel: act std (axes drawn per update, the range moves)
    const rb = this.right;
    text(el, (rb.l + rb.r) / 2, 14 + dy, "std of the activations", { class: "panel-title", "text-anchor": "middle" });
    text(el, (rb.l + rb.r) / 2, 230 + dy, "layer", { class: "axis-label", "text-anchor": "middle" });
    this.gRight = svg("g", {}, el);
    this.lines = labels.map((s) => {
      const line = svg("path", { class: "line", stroke: START_COLOR[s] }, el);
      const dots = [];
      for (let l = 1; l <= L; l++) dots.push(svg("circle", { r: 4, fill: START_COLOR[s], stroke: "#fff" }, el));
      return { line, dots };
    });
    this.key = "";
  }

  measure() {
    this.cssW = this.el.clientWidth;
  }

  isNarrow() {
    const w = this.cssW ?? this.el.clientWidth;
    return w > 0 && w < 600;
  }

  update(layersPerStart) {
    if (this.isNarrow() !== this.narrow) this.build(this.L, this.labels);
    const lb = this.left, rb = this.right;
    const sy = scale(0, 1, lb.b, lb.t, false);
    const stds = [];
    layersPerStart.forEach((layers, si) => {
      layers.forEach((layer, i) => {
        const bar = this.bars[si]?.[i];
        if (!bar) return;
        const sat = layer.saturated ?? 0, dead = layer.dead ?? 0;
        bar.sat.setAttribute("y", sy(sat).toFixed(1));
        bar.sat.setAttribute("height", (lb.b - sy(sat)).toFixed(1));
        bar.dead.setAttribute("y", sy(dead).toFixed(1));
        bar.dead.setAttribute("height", (lb.b - sy(dead)).toFixed(1));
        bar.t1.textContent = `${this.labels[si]}, layer ${layer.layer}: ${(100 * sat).toFixed(1)}% saturated`;
        bar.t2.textContent = `${this.labels[si]}, layer ${layer.layer}: ${(100 * dead).toFixed(1)}% dead`;
        stds.push(layer.act_std);
      });
    });
    const pos = stds.filter((v) => typeof v === "number" && v > 0 && Number.isFinite(v));
    let lo = pos.length ? Math.min(...pos) : 0.1, hi = pos.length ? Math.max(...pos) : 1;
    lo = 10 ** Math.floor(Math.log10(lo));
    hi = 10 ** Math.ceil(Math.log10(hi));
    if (hi <= lo) hi = lo * 10;
    const ry = scale(lo, hi, rb.b, rb.t, true);
    const slot = (rb.r - rb.l) / this.L;
    const rx = (l) => rb.l + slot * (l - 0.5);
    const key = `${lo}|${hi}`;
    if (key !== this.key) {
      this.key = key;
      drawAxes(this.gRight, rb, [], null, logTicks(lo, hi), ry, logLabel);
      for (let l = 1; l <= this.L; l++) text(this.gRight, rx(l), rb.b + 18, String(l), { class: "tick", "text-anchor": "middle" });
    }
    layersPerStart.forEach((layers, si) => {
      const ln = this.lines[si];
      if (!ln) return;
      let d = "";
      layers.forEach((layer, i) => {
        const v = layer.act_std;
        const ok = typeof v === "number" && Number.isFinite(v);
        const y = ok ? ry(v > 0 ? v : lo) : rb.t;
        d += `${i ? "L" : "M"}${rx(layer.layer).toFixed(1)} ${y.toFixed(1)}`;
        const dot = ln.dots[i];
        if (dot) {
          dot.setAttribute("cx", rx(layer.layer).toFixed(1));
          dot.setAttribute("cy", y.toFixed(1));
          dot.setAttribute("fill", ok && v > 0 ? START_COLOR[this.labels[si]] : "#fff");
          dot.setAttribute("stroke", START_COLOR[this.labels[si]]);
        }
      });
      ln.line.setAttribute("d", d);
    });
  }
}

// The network drawing: units as circles, edges coloured by sign and sized by magnitude (of the weight
// or of its gradient), clone groups marked by a shared fill, outline and letter. The elements are made
// once per run and only their attributes change per frame (up to 16 x 16 edges per layer x 9 layers).

import { POSITIVE, NEGATIVE, svg, text, clear } from "./util.js";

const SHOWN = 16;
// fills for clone groups; the outline is the same colour, darker
const GROUP_FILL = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#F0E442", "#D55E00", "#0072B2"];
const LETTERS = "abcdefghijklmnopqrstuvwxyz";
const LEVELS = 10; // edge magnitudes are drawn in this many steps (a class change per edge only when it moves a step)

// one CSS class per sign and magnitude step: e-p3 (positive, step 3), e-n7, e-z (zero), e-x (not finite)
function edgeStyles() {
  if (document.getElementById("edge-styles")) return;
  const rules = [".edges .e-z { stroke: #bbb; stroke-width: 0.4; stroke-opacity: 0.35; }",
    ".edges .e-x { stroke: #999; stroke-width: 0.4; stroke-opacity: 0.35; stroke-dasharray: 2 2; }"];
  for (let k = 1; k <= LEVELS; k++) {
    const r = k / LEVELS;
    const w = (0.4 + 3.6 * r).toFixed(2), o = (0.2 + 0.8 * r).toFixed(2);
    rules.push(`.edges .e-p${k} { stroke: ${POSITIVE}; stroke-width: ${w}; stroke-opacity: ${o}; }`);
    rules.push(`.edges .e-n${k} { stroke: ${NEGATIVE}; stroke-width: ${w}; stroke-opacity: ${o}; }`);
  }
  const style = document.createElement("style");
  style.id = "edge-styles";
  style.textContent = rules.join("\n");
  document.head.appendChild(style);
}

export class Network {
  constructor(el) {
    this.el = el;
    this.layers = [];
    edgeStyles();
  }

  /** Make the elements for a net with units layerDims = [n0, ..., nL]. */
  build(layerDims, inputNames = null) {
    const cut = layerDims.some((n) => n > SHOWN);
    const el = this.el;
    clear(el);
    const L = layerDims.length - 1;
    const shown = layerDims.map((n) => Math.min(n, SHOWN));
    const most = Math.max(...shown);
    const gap = most > 8 ? 24 : 34;
    const W = Math.max(480, 110 * L + 120);
    const top = cut ? 42 : 28, bottom = 50;
    const H = top + most * gap + bottom;
    el.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const xOf = (l) => 60 + ((W - 120) * l) / L;
    const yOf = (l, i) => top + gap / 2 + (most - shown[l]) * gap / 2 + i * gap;
    this.scaleText = text(el, 4, 14, "", { class: "caption-sub", "text-anchor": "start" });
    if (cut) text(el, 4, 29, `only the first ${SHOWN} units of a layer are drawn`, { class: "caption-sub", "text-anchor": "start" });
    const gEdges = svg("g", { class: "edges" }, el);
    const gUnits = svg("g", { class: "units" }, el);
    this.layers = [];
    for (let l = 0; l <= L; l++) {
      const x = xOf(l);
      const edges = [];
      if (l > 0) {
        for (let i = 0; i < shown[l]; i++) {
          const row = [];
          for (let j = 0; j < shown[l - 1]; j++) {
            const line = svg("line", { x1: xOf(l - 1), y1: yOf(l - 1, j), x2: x, y2: yOf(l, i), class: "e-z" }, gEdges);
            row.push({ line, cls: "e-z" });
          }
          edges.push(row);
        }
      }
      const units = [];
      for (let i = 0; i < shown[l]; i++) {
        const g = svg("g", {}, gUnits);
        const c = svg("circle", { cx: x, cy: yOf(l, i), r: 8, class: "unit" }, g);
        const label = text(g, x, yOf(l, i) + 3.5, "", { class: "unit-letter", "text-anchor": "middle" });
        const title = svg("title", {}, g);
        if (l === 0) {
          c.setAttribute("class", "unit input");
          title.textContent = inputNames?.[i] ?? `input ${i + 1}`;
          if (layerDims[0] <= 4) label.textContent = `x${i + 1}`;
        }
        units.push({ c, label, title, key: "" });
      }
      let caption;
      if (l === 0) {
        caption = `${layerDims[0]} input${layerDims[0] > 1 ? "s" : ""}`;
      } else {
        caption = "";
      }
      const cap = text(el, x, H - 28, caption, { class: "caption-text", "text-anchor": "middle" });
      // "k distinct" above, "of n · layer l" below: short lines that do not run into the next layer's on a phone
      const sub = l === 0 ? "" : `of ${layerDims[l]} · ${l === L ? "output" : `layer ${l}`}`;
      text(el, x, H - 14, sub, { class: "caption-sub", "text-anchor": "middle" });
      this.layers.push({ edges, units, cap, n: layerDims[l] });
    }
  }

  /** Colour the edges by W or dW and mark the clone groups, from the frame's layers of one start. */
  update(layers, mode) {
    const key = mode === "gradients" ? "dW" : "W";
    let max = 0;
    for (const layer of layers) {
      for (const row of layer[key] ?? []) for (const v of row) if (v !== null && Math.abs(v) > max) max = Math.abs(v);
    }
    const what = mode === "gradients" ? "gradient" : "weight";
    this.scaleText.textContent = max > 0
      ? `edge width grows with |${what}|; widest ${max.toPrecision(3)}`
      : `every ${what} drawn is 0`;
    for (const layer of layers) {
      const target = this.layers[layer.layer];
      if (!target) continue;
      const M = layer[key] ?? [];
      target.edges.forEach((row, i) => {
        const values = M[i] ?? [];
        row.forEach((edge, j) => {
          const v = values[j];
          let cls;
          if (typeof v !== "number" || !Number.isFinite(v)) cls = "e-x";
          else if (v === 0 || max === 0) cls = "e-z";
          else cls = `e-${v > 0 ? "p" : "n"}${Math.max(1, Math.ceil(LEVELS * Math.sqrt(Math.abs(v) / max)))}`;
          if (cls !== edge.cls) {
            edge.cls = cls;
            edge.line.setAttribute("class", cls);
          }
        });
      });
      this.markGroups(target, layer);
    }
  }

  markGroups(target, layer) {
    const groups = layer.groups ?? [];
    const size = new Map();
    for (const g of groups) size.set(g, (size.get(g) ?? 0) + 1);
    const order = new Map(); // clone groups (more than one unit) in order of first appearance
    for (const g of groups) if (size.get(g) > 1 && !order.has(g)) order.set(g, order.size);
    target.units.forEach((u, i) => {
      const g = groups[i];
      const k = order.get(g);
      const stateKey = k === undefined ? "single" : `${k}:${size.get(g)}`;
      if (u.key === stateKey) return;
      u.key = stateKey;
      if (k === undefined) {
        u.c.setAttribute("fill", "#fff");
        u.c.setAttribute("stroke", "#444");
        u.c.setAttribute("stroke-width", "1.2");
        u.label.textContent = "";
        u.title.textContent = `layer ${layer.layer}, unit ${i + 1}: a distinct unit`;
      } else {
        u.c.setAttribute("fill", GROUP_FILL[k % GROUP_FILL.length]);
        u.c.setAttribute("stroke", "#000");
        u.c.setAttribute("stroke-width", k < GROUP_FILL.length ? "2" : "3");
        u.label.textContent = LETTERS[k % LETTERS.length];
        u.title.textContent = `layer ${layer.layer}, unit ${i + 1}: clone group ${LETTERS[k % LETTERS.length]} (${size.get(g)} identical units)`;
      }
    });
    const n = layer.units ?? target.n;
    target.cap.textContent = `${layer.distinct} distinct`;
    target.cap.setAttribute("class", layer.distinct < n ? "caption-text clones" : "caption-text");
  }
}

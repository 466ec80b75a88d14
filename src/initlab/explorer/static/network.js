// The network drawing: units as circles, edges coloured by sign and sized by magnitude (of the weight
// or of its gradient), clone groups marked by a shared fill, outline and letter. The elements are made
// once per run and only their attributes change per frame (up to 16 x 16 edges per layer x 9 layers).

import { POSITIVE, NEGATIVE, svg, text, clear } from "./util.js";

const SHOWN = 16;
// fills for clone groups; the outline is the same colour, darker
const GROUP_FILL = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#F0E442", "#D55E00", "#0072B2"];
const LETTERS = "abcdefghijklmnopqrstuvwxyz";

export class Network {
  constructor(el) {
    this.el = el;
    this.layers = [];
  }

  /** Make the elements for a net with units layerDims = [n0, ..., nL]. */
  build(layerDims, inputNames = null) {
    const el = this.el;
    clear(el);
    const L = layerDims.length - 1;
    const shown = layerDims.map((n) => Math.min(n, SHOWN));
    const most = Math.max(...shown);
    const gap = most > 8 ? 24 : 34;
    const W = Math.max(420, 110 * L + 80);
    const top = 16, bottom = 50;
    const H = top + most * gap + bottom;
    el.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const xOf = (l) => 40 + ((W - 80) * l) / L;
    const yOf = (l, i) => top + gap / 2 + (most - shown[l]) * gap / 2 + i * gap;
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
            row.push(svg("line", { x1: xOf(l - 1), y1: yOf(l - 1, j), x2: x, y2: yOf(l, i), "stroke-width": 0.5, stroke: "#bbb" }, gEdges));
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
      const cap2 = text(el, x, H - 14, l === 0 ? "" : l === L ? "output" : `layer ${l}`, { class: "caption-sub", "text-anchor": "middle" });
      if (layerDims[l] > SHOWN) cap2.textContent += ` (first ${SHOWN} drawn)`;
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
    for (const layer of layers) {
      const target = this.layers[layer.layer];
      if (!target) continue;
      const M = layer[key] ?? [];
      target.edges.forEach((row, i) => {
        row.forEach((line, j) => {
          const v = M[i]?.[j];
          const ok = typeof v === "number" && Number.isFinite(v);
          const r = ok && max > 0 ? Math.sqrt(Math.abs(v) / max) : 0;
          line.setAttribute("stroke", !ok ? "#999" : v > 0 ? POSITIVE : v < 0 ? NEGATIVE : "#bbb");
          line.setAttribute("stroke-width", (0.4 + 3.6 * r).toFixed(2));
          line.setAttribute("stroke-opacity", (0.2 + 0.8 * r).toFixed(2));
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
    target.cap.textContent = `${layer.distinct} distinct of ${n}`;
    target.cap.setAttribute("class", layer.distinct < n ? "caption-text clones" : "caption-text");
  }
}

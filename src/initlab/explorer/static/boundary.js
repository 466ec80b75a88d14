// The decision boundary: p(class 1) on an n x n grid as a blue-white-orange colour map, the training
// points on top, axes x1 and x2. Drawn on a canvas sized to its box (device pixels).

import { OKABE, ticks, tickLabel } from "./util.js";

const LOW = [0, 114, 178]; // p = 0: Okabe-Ito blue
const HIGH = [230, 159, 0]; // p = 1: Okabe-Ito orange
const FADE = 0.45; // the map is lightened so the points stay visible

// 256 RGB entries: blue -> white -> orange, lightened
const RAMP = (() => {
  const out = new Uint8ClampedArray(256 * 3);
  for (let v = 0; v < 256; v++) {
    const p = v / 255;
    const end = p < 0.5 ? LOW : HIGH;
    const t = Math.abs(p - 0.5) * 2; // 0 at the boundary, 1 at a sure prediction
    for (let c = 0; c < 3; c++) {
      const col = 255 + (end[c] - 255) * t;
      out[v * 3 + c] = 255 + (col - 255) * (1 - FADE);
    }
  }
  return out;
})();

function decode(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export class Boundary {
  constructor(canvas) {
    this.canvas = canvas;
    this.points = null;
    this.box = null;
    this.grid = document.createElement("canvas");
    this.message = "";
  }

  /** The run's dataset: its points [[x1, x2, label]...] (null for digits) and box. */
  setData(dataset) {
    this.points = dataset?.points ?? null;
    this.box = dataset?.box ?? null;
    this.message = this.points ? "" : `no 2-D picture for ${dataset?.name ?? "this dataset"} (${dataset?.n_x ?? "many"} inputs)`;
    this.last = null;
  }

  /** Read the canvas's width on the page (before any drawing writes, so the browser lays out once). */
  measure() {
    this.cssW = this.canvas.clientWidth;
  }

  /** Match the canvas's pixel size to its box on the page; true when it changed. */
  fit() {
    const c = this.canvas;
    const css = this.cssW || c.clientWidth || 320;
    const dpr = window.devicePixelRatio || 1;
    const px = Math.max(160, Math.round(css * dpr));
    if (c.width !== px || c.height !== px) {
      c.width = px;
      c.height = px;
      return true;
    }
    return false;
  }

  /** Draw the probabilities (base64 of n*n uint8, row 0 at ymin) or, with none, the points alone. */
  draw(b64, n, box) {
    this.fit();
    const c = this.canvas, ctx = c.getContext("2d");
    const s = c.width / 320; // the layout below is in 320-wide units
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.setTransform(s, 0, 0, s, 0, 0);
    const area = { l: 40, t: 8, r: 312, b: 280 };
    const w = area.r - area.l, h = area.b - area.t;
    box = box ?? this.box;
    if (b64 && n) {
      const bytes = decode(b64);
      this.grid.width = n;
      this.grid.height = n;
      const g = this.grid.getContext("2d");
      const img = g.createImageData(n, n);
      for (let row = 0; row < n; row++) {
        const y = n - 1 - row; // row 0 is ymin, drawn at the bottom
        for (let col = 0; col < n; col++) {
          const v = bytes[row * n + col] ?? 0;
          const o = (y * n + col) * 4;
          img.data[o] = RAMP[v * 3];
          img.data[o + 1] = RAMP[v * 3 + 1];
          img.data[o + 2] = RAMP[v * 3 + 2];
          img.data[o + 3] = 255;
        }
      }
      g.putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this.grid, area.l, area.t, w, h);
    } else {
      ctx.fillStyle = "#f4f4f4";
      ctx.fillRect(area.l, area.t, w, h);
    }
    if (this.message) {
      ctx.fillStyle = "#333";
      ctx.font = "13px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(this.message, (area.l + area.r) / 2, (area.t + area.b) / 2);
      return;
    }
    if (!box) return;
    const [x0, x1, y0, y1] = box;
    const px = (x) => area.l + ((x - x0) / (x1 - x0)) * w;
    const py = (y) => area.b - ((y - y0) / (y1 - y0)) * h;
    if (this.points) {
      ctx.lineWidth = 0.8;
      ctx.strokeStyle = "#fff";
      for (const [x, y, label] of this.points) {
        ctx.beginPath();
        ctx.arc(px(x), py(y), 2.8, 0, 2 * Math.PI);
        ctx.fillStyle = OKABE[label === 0 ? 0 : label === 1 ? 3 : (label + 1) % OKABE.length];
        ctx.fill();
        ctx.stroke();
      }
    }
    // frame and axes
    ctx.strokeStyle = "#555";
    ctx.lineWidth = 1;
    ctx.strokeRect(area.l, area.t, w, h);
    ctx.fillStyle = "#222";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    for (const v of ticks(x0, x1, 4)) ctx.fillText(tickLabel(Number(v.toPrecision(3))), px(v), area.b + 14);
    ctx.textAlign = "right";
    for (const v of ticks(y0, y1, 4)) ctx.fillText(tickLabel(Number(v.toPrecision(3))), area.l - 5, py(v) + 4);
    ctx.font = "italic 13px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText("x1", (area.l + area.r) / 2, 312);
    ctx.save();
    ctx.translate(12, (area.t + area.b) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText("x2", 0, 0);
    ctx.restore();
  }
}

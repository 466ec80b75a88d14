// The explorer page: controls from /api/settings, one WebSocket session per page, readouts updated on
// every frame, the drawing throttled to the screen (requestAnimationFrame, the latest frame only).

import { START_COLOR, num, pct, clear, median, finiteMin, finiteMax } from "./util.js";
import { CostChart, Histograms, Shares } from "./charts.js";
import { Network } from "./network.js";
import { Boundary } from "./boundary.js";

const $ = (sel) => document.querySelector(sel);
const CUSTOM = "\u0000custom";

// setting name -> control id (settings without a control keep the text of the current run)
const CONTROLS = {
  dataset: "dataset", depth: "depth", width: "width", activation: "activation", weights: "weights",
  biases: "biases", compare: "compare", compare_biases: "compare-biases", optimizer: "optimizer", lr: "lr",
  seed: "seed", seeds: "seeds",
};

const state = {
  meta: null, // /api/settings
  config: null, // the last "config" message
  ws: null,
  opened: false,
  frames: 0,
  playing: false,
  expect: null, // the playing state asked for and not yet confirmed by a frame
  edgeMode: "weights",
  latest: null, // the newest frame, drawn at the next animation frame
  drawQueued: false,
  drawn: 0,
  rows: new Map(), // "A:1" -> the row's cells in #layers
};

const views = {
  cost: new CostChart($("#cost-chart")),
  hist: { A: new Histograms($("#hist-A")), B: new Histograms($("#hist-B")) },
  net: { A: new Network($("#network-A")), B: new Network($("#network-B")) },
  boundary: { A: new Boundary($("#boundary-A")), B: new Boundary($("#boundary-B")) },
  shares: new Shares($("#shares")),
};

/** Set an element's text only when it differs (no needless layout work at 25 frames a second). */
function put(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

// --- status and errors -----------------------------------------------------------------------------------

function setStatus(s) {
  if ($("#status").textContent === s) return;
  $("#status").textContent = s;
  document.body.dataset.status = s;
}

function showError(message) {
  const e = $("#error");
  e.textContent = message;
  e.hidden = false;
  const m = /'(\w+)' setting/.exec(message);
  const id = m && CONTROLS[m[1]];
  for (const c of document.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
  if (id) $(`#${id}`).setAttribute("aria-invalid", "true");
}

function hideError() {
  $("#error").hidden = true;
  $("#error").textContent = "";
  for (const c of document.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
}

// --- controls --------------------------------------------------------------------------------------------

function option(parent, value, label = value, title = "") {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  if (title) o.title = title;
  parent.appendChild(o);
  return o;
}

function group(select, label, values, titles = {}) {
  const g = document.createElement("optgroup");
  g.label = label;
  for (const v of values) option(g, v, v, titles[v] ?? "");
  select.appendChild(g);
}

/** Fill the controls from the server's declared settings: choices, ranges and help. */
function buildControls(meta) {
  const byName = Object.fromEntries(meta.settings.map((s) => [s.name, s]));
  for (const [name, id] of Object.entries(CONTROLS)) {
    const s = byName[name];
    const el = $(`#${id}`);
    if (!s || !el) continue;
    el.title = s.help;
    const label = document.querySelector(`label[for="${id}"]`);
    if (label) label.title = s.help;
    if (el.tagName === "SELECT") {
      clear(el);
      for (const c of s.choices ?? []) option(el, c);
    } else if (el.type === "number") {
      if (s.low !== null && s.low !== undefined) el.min = s.low_open ? "" : String(s.low);
      if (s.high !== null && s.high !== undefined) el.max = String(s.high);
      el.step = s.type === "int" ? "1" : "any";
    }
  }
  const regimes = meta.regimes ?? {};
  const regimeTitles = Object.fromEntries(Object.entries(regimes).map(([k, v]) => [k, `the regime '${k}': ${v}`]));
  const weightChoices = (select, none) => {
    clear(select);
    if (none) option(select, "", none);
    group(select, "Regimes", Object.keys(regimes), regimeTitles);
    group(select, "Schemes", meta.schemes ?? []);
    option(select, CUSTOM, "custom spec...");
  };
  const biasChoices = (select, same) => {
    clear(select);
    if (same) option(select, "", same);
    for (const b of meta.bias_policies ?? []) option(select, b);
    option(select, CUSTOM, "custom spec...");
  };
  weightChoices($("#weights-choice"), null);
  weightChoices($("#compare-choice"), "none");
  biasChoices($("#biases-choice"), null);
  biasChoices($("#compare-biases-choice"), "same as start A");
  for (const [sel, box] of PAIRS) {
    $(sel).title = $(box).title;
    $(sel).addEventListener("change", () => {
      const v = $(sel).value;
      if (v === CUSTOM) {
        $(box).focus();
        $(box).select();
      } else {
        $(box).value = v;
      }
      markDirty();
    });
    $(box).addEventListener("input", () => syncChoice(sel, box));
  }
  const speed = $("#speed");
  clear(speed);
  for (const k of meta.speeds ?? [1, 2, 5, 10, 20, 50, 100]) option(speed, String(k), `${k} step${k > 1 ? "s" : ""}/frame`);
  speed.value = (meta.speeds ?? []).includes(10) ? "10" : speed.options[0]?.value ?? "";
}

const PAIRS = [
  ["#weights-choice", "#weights"],
  ["#compare-choice", "#compare"],
  ["#biases-choice", "#biases"],
  ["#compare-biases-choice", "#compare-biases"],
];

/** Show in the select which choice the spec box holds (or "custom spec..."). */
function syncChoice(sel, box) {
  const select = $(sel), v = $(box).value.trim();
  const match = [...select.options].some((o) => o.value === v && o.value !== CUSTOM);
  select.value = match ? v : CUSTOM;
}

function controlTexts() {
  const out = {};
  for (const [name, id] of Object.entries(CONTROLS)) {
    const el = $(`#${id}`);
    if (el) out[name] = el.value.trim();
  }
  return out;
}

function setControls(settings) {
  for (const [name, id] of Object.entries(CONTROLS)) {
    const el = $(`#${id}`);
    if (el && name in settings) el.value = settings[name];
  }
  for (const [sel, box] of PAIRS) syncChoice(sel, box);
  markDirty();
}

function markDirty() {
  const c = state.config?.settings;
  const dirty = !!c && Object.entries(controlTexts()).some(([k, v]) => k in c && String(c[k]) !== v);
  $("#dirty").hidden = !dirty;
  $("#apply").classList.toggle("dirty", dirty);
}

function apply() {
  const settings = {};
  const known = new Set((state.meta?.settings ?? []).map((s) => s.name));
  for (const s of state.meta?.settings ?? []) settings[s.name] = String(state.config?.settings?.[s.name] ?? s.default);
  for (const [k, v] of Object.entries(controlTexts())) if (known.size === 0 || known.has(k)) settings[k] = v;
  send({ type: "set", settings });
}

// --- the connection --------------------------------------------------------------------------------------

function send(message) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
    showError("The page is not connected to the server; reload the page to start a new session.");
    return false;
  }
  state.ws.send(JSON.stringify(message));
  return true;
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws${location.search}`);
  state.ws = ws;
  setStatus("connecting");
  ws.addEventListener("open", () => {
    state.opened = true;
  });
  ws.addEventListener("message", (ev) => {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch {
      try {
        m = JSON.parse(String(ev.data).replace(/\bNaN\b|-?\bInfinity\b/g, "null"));
      } catch {
        showError("The server sent a message this page cannot read.");
        return;
      }
    }
    if (m.type === "config") onConfig(m);
    else if (m.type === "frame") onFrame(m);
    else if (m.type === "error") onServerError(m);
  });
  ws.addEventListener("close", () => {
    if (state.leaving) return;
    if (!state.opened) {
      setStatus("error");
      showError("The server refused this session (too many open, or settings it does not accept). Close other explorer tabs and reload.");
    } else {
      setStatus("closed");
      showError("The connection to the server closed (was the server stopped?). Reload the page to start a new session.");
    }
    $("#play").disabled = true;
    $("#step-once").disabled = true;
    $("#reset").disabled = true;
    $("#apply").disabled = true;
  });
}

function onServerError(m) {
  showError(m.message ?? "The server reported an error.");
  state.expect = null;
}

function onConfig(c) {
  state.config = c;
  for (const id of ["play", "step-once", "reset", "apply"]) $(`#${id}`).disabled = false;
  state.expect = null;
  hideError();
  setControls(c.settings);
  const query = c.query ?? "";
  history.replaceState(null, "", `/?${query}`);
  const share = $("#share-link");
  share.href = `${location.origin}/?${query}`;
  share.textContent = share.href;
  $("#command").textContent = c.command ?? "";
  $("#python").textContent = c.python ?? "";
  const labels = c.starts.map((s) => s.label);
  document.body.classList.toggle("has-b", labels.includes("B"));
  for (const s of c.starts) {
    for (const e of document.querySelectorAll(`[data-spec="${s.label}"]`)) e.textContent = `weights ${s.weights}, biases ${s.biases}`;
  }
  for (const label of ["A", "B"]) {
    if (!labels.includes(label)) {
      $(`#cost-${label}`).textContent = "–";
      $(`#acc-${label}`).textContent = "–";
    }
  }
  // the views for this run
  const L = c.layer_dims.length - 1;
  const hidden = c.settings.activation ?? "hidden";
  const output = c.loss === "bce" ? "sigmoid" : "softmax";
  views.cost.reset(c.starts, c.dataset?.classes ?? (c.loss === "bce" ? 2 : 0));
  const flat = !c.dataset?.points;
  $("#boundary-title").closest("section").classList.toggle("no-2d", flat);
  $("#no-2d").textContent = flat ? `The ${c.dataset?.name ?? ""} data has ${c.dataset?.n_x ?? "many"} inputs, so there is no plane to draw its decision boundary on; the cost, the network and the layers below still show the run.` : "";
  for (const s of c.starts) {
    views.net[s.label]?.build(c.layer_dims);
    views.hist[s.label]?.build(L, hidden, output);
    views.boundary[s.label]?.setData(c.dataset);
  }
  views.shares.build(L, labels);
  // deep nets are drawn one above the other, at a readable size
  $("#network-A").closest(".ab").classList.toggle("stack", L > 4);
  buildTable(c);
  buildSpread(c);
  state.latest = null;
}

function onFrame(f) {
  state.frames += 1;
  const c = state.config;
  if (state.expect === null || state.expect === f.playing) {
    state.expect = null;
    state.playing = f.playing;
  }
  if (c) {
    if (f.loss && f.loss.steps?.length) views.cost.append(f.loss.steps, f.loss.values);
    if (Array.isArray(f.cost)) views.cost.append([f.step], [f.cost]);
    const diverged = [];
    for (const s of c.starts) {
      const k = s.models[0];
      put($(`#cost-${s.label}`), f.cost?.[k] === null || f.cost?.[k] === undefined ? "NaN" : f.cost[k].toPrecision(6));
      put($(`#acc-${s.label}`), pct(f.accuracy?.[k]));
      const bad = s.models.filter((m) => (f.diverged?.[m] ?? -1) >= 0);
      if (bad.length) diverged.push(`start ${s.label}: ${bad.length} of ${s.models.length} model(s) diverged (first at step ${Math.min(...bad.map((m) => f.diverged[m]))})`);
    }
    const d = $("#diverged");
    d.hidden = diverged.length === 0;
    put(d, diverged.length ? `Not finite: ${diverged.join("; ")}. A too-large start or learning rate makes the cost overflow.` : "");
    updateTable(f);
    updateSpread(f);
  }
  put($("#step"), String(f.step));
  put($("#play"), state.playing ? "Pause" : "Play");
  if (state.ws?.readyState === WebSocket.OPEN) setStatus(state.playing ? "playing" : "paused");
  state.latest = f;
  document.body.dataset.frames = String(state.frames);
  document.body.dataset.step = String(f.step);
  document.body.dataset.playing = String(f.playing); // the server's word, not the button's optimistic state
  queueDraw();
}

// --- drawing ---------------------------------------------------------------------------------------------

function queueDraw() {
  if (state.drawQueued) return;
  state.drawQueued = true;
  requestAnimationFrame(draw);
}

function draw() {
  state.drawQueued = false;
  const f = state.latest, c = state.config;
  if (!f || !c) return;
  const t0 = performance.now();
  // read every size first, then write: one layout per drawing
  views.cost.measure();
  views.shares.measure();
  for (const s of c.starts) {
    views.hist[s.label]?.measure();
    views.boundary[s.label]?.measure();
  }
  views.cost.draw();
  $("#cost-log").checked = views.cost.log;
  c.starts.forEach((s, i) => {
    const layers = f.layers?.[i] ?? [];
    views.net[s.label]?.update(layers, state.edgeMode);
    views.hist[s.label]?.update(layers, START_COLOR[s.label]);
    const b = f.boundary;
    views.boundary[s.label]?.draw(b?.probs?.[i] ?? null, b?.n ?? 0, b?.box ?? null);
  });
  views.shares.update(f.layers ?? []);
  // frames drawn (at most one per screen refresh) and the time the last drawing took
  state.drawn += 1;
  document.body.dataset.drawn = String(state.drawn);
  document.body.dataset.drawMs = (performance.now() - t0).toFixed(1);
}

// --- the layers table and the spread ---------------------------------------------------------------------

const COLUMNS = ["layer", "units", "distinct", "act-std", "saturated", "dead", "plan-formula", "plan-fans", "plan-std", "realized-std", "w-std"];

function buildTable(c) {
  const body = $("#layers tbody");
  clear(body);
  state.rows.clear();
  const L = c.layer_dims.length - 1;
  c.starts.forEach((s, si) => {
    for (let l = 1; l <= L; l++) {
      const tr = document.createElement("tr");
      tr.dataset.start = s.label;
      tr.dataset.layer = String(l);
      const cells = {};
      for (const col of COLUMNS) {
        const td = document.createElement(col === "layer" ? "th" : "td");
        if (td.tagName === "TH") td.scope = "row";
        td.className = col;
        cells[col] = td;
        tr.appendChild(td);
      }
      cells.layer.innerHTML = `<span class="swatch swatch-${s.label}" aria-hidden="true"></span>${s.label} · ${l}${l === L ? " (out)" : ""}`;
      cells.units.textContent = String(c.layer_dims[l]);
      const plan = c.plans?.[si]?.[l - 1];
      if (plan) {
        cells["plan-formula"].textContent = plan.formula ?? "";
        cells["plan-fans"].textContent = plan.fan_in === null || plan.fan_in === undefined ? "–" : `${plan.fan_in} / ${plan.fan_out}`;
        cells["plan-std"].textContent = num(plan.std);
        cells["realized-std"].textContent = num(plan.realized_std);
      }
      body.appendChild(tr);
      state.rows.set(`${s.label}:${l}`, cells);
    }
  });
}

function updateTable(f) {
  state.config.starts.forEach((s, si) => {
    for (const layer of f.layers?.[si] ?? []) {
      const cells = state.rows.get(`${s.label}:${layer.layer}`);
      if (!cells) continue;
      put(cells.units, String(layer.units));
      put(cells.distinct, String(layer.distinct));
      cells.distinct.classList.toggle("clones", layer.distinct < layer.units);
      put(cells["act-std"], num(layer.act_std));
      put(cells.saturated, pct(layer.saturated));
      put(cells.dead, pct(layer.dead));
      put(cells["w-std"], num(layer.w_std));
    }
  });
}

function buildSpread(c) {
  const root = $("#spread");
  clear(root);
  state.spread = null;
  const L = c.layer_dims.length - 1;
  const many = c.starts.filter((s) => s.models.length > 1);
  if (!many.length) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = "One seed per start. Set 'seeds per start' above 1 to see how much the result depends on the draw.";
    root.appendChild(p);
    return;
  }
  const table = document.createElement("table");
  table.className = "spread-table";
  const head = table.createTHead().insertRow();
  for (const h of ["start", "cost: lowest", "median", "highest", ...Array.from({ length: L }, (_, i) => `distinct, layer ${i + 1}`)]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    head.appendChild(th);
  }
  const body = table.createTBody();
  state.spread = c.starts.map((s) => {
    const tr = body.insertRow();
    tr.dataset.start = s.label;
    const th = document.createElement("th");
    th.scope = "row";
    th.innerHTML = `<span class="swatch swatch-${s.label}" aria-hidden="true"></span>${s.label} (${s.models.length} seed${s.models.length > 1 ? "s" : ""})`;
    tr.appendChild(th);
    const cells = [];
    for (let i = 0; i < 3 + L; i++) cells.push(tr.insertCell());
    return { models: s.models, cells };
  });
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.appendChild(table);
  root.appendChild(wrap);
  const p = document.createElement("p");
  p.className = "note";
  p.textContent = "Distinct units are shown as lowest–highest over the seeds of the start.";
  root.appendChild(p);
}

function updateSpread(f) {
  if (!state.spread || !f.spread) return;
  for (const row of state.spread) {
    const costs = row.models.map((k) => f.spread.cost?.[k] ?? null);
    put(row.cells[0], num(finiteMin(costs)));
    put(row.cells[1], num(median(costs)));
    put(row.cells[2], num(finiteMax(costs)));
    const L = row.cells.length - 3;
    for (let l = 0; l < L; l++) {
      const d = row.models.map((k) => f.spread.distinct?.[k]?.[l]).filter((v) => typeof v === "number");
      const lo = d.length ? Math.min(...d) : null, hi = d.length ? Math.max(...d) : null;
      put(row.cells[3 + l], lo === null ? "–" : lo === hi ? String(lo) : `${lo}–${hi}`);
    }
  }
}

// --- wiring ----------------------------------------------------------------------------------------------

function wire() {
  $("#controls").addEventListener("submit", (ev) => {
    ev.preventDefault();
    apply();
  });
  $("#controls").addEventListener("input", markDirty);
  $("#controls").addEventListener("change", markDirty);
  $("#play").addEventListener("click", () => {
    const next = !state.playing;
    if (send({ type: next ? "play" : "pause" })) {
      state.playing = next;
      state.expect = next;
      $("#play").textContent = next ? "Pause" : "Play";
      setStatus(next ? "playing" : "paused");
    }
  });
  $("#step-once").addEventListener("click", () => send({ type: "step", count: 1 }));
  $("#reset").addEventListener("click", () => {
    state.expect = null;
    send({ type: "reset" });
  });
  $("#speed").addEventListener("change", () => send({ type: "speed", steps_per_frame: Number($("#speed").value) }));
  $("#edge-mode").addEventListener("click", () => {
    state.edgeMode = state.edgeMode === "weights" ? "gradients" : "weights";
    const b = $("#edge-mode");
    b.textContent = state.edgeMode;
    b.setAttribute("aria-pressed", String(state.edgeMode === "gradients"));
    queueDraw();
  });
  $("#cost-log").addEventListener("change", () => {
    views.cost.setLog($("#cost-log").checked);
    queueDraw();
  });
  for (const b of document.querySelectorAll("button.copy")) {
    b.addEventListener("click", async () => {
      const t = $(`#${b.dataset.copy}`).textContent;
      try {
        await navigator.clipboard.writeText(t);
        b.textContent = "Copied";
      } catch {
        b.textContent = "Select and copy";
      }
      setTimeout(() => (b.textContent = "Copy"), 1500);
    });
  }
  // leaving the page (or putting it in the back/forward cache) ends its session on the server at once;
  // coming back from that cache starts a fresh one from the URL
  window.addEventListener("pagehide", () => {
    state.leaving = true;
    state.ws?.close(1000, "page left");
  });
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted) location.reload();
  });
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(queueDraw, 100);
  });
}

async function main() {
  wire();
  document.body.dataset.frames = "0";
  try {
    const r = await fetch("/api/settings");
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    state.meta = await r.json();
    buildControls(state.meta);
  } catch (e) {
    showError(`Could not load the settings from the server (${e.message}); the controls are empty.`);
  }
  connect();
}

main();

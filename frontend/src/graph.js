// The workflow as an SVG graph: layered left-to-right layout (dagre), edges labelled with
// their handle, pan (drag the background) and zoom (wheel, buttons), and per-node outcomes
// on run pages. Used read-only by the workflow, version, execute and run pages, and as the
// drawing layer of the visual editor.

import { Graph, layout } from "@dagrejs/dagre";

export const NODE_WIDTH = 184;
export const NODE_HEIGHT = 58;
// The smallest zoom a read-only graph opens at: node titles (12 px) drawn at 9 px.
export const READABLE_ZOOM = 0.75;
const SVG = "http://www.w3.org/2000/svg";

export function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

export function edgeHandle(edge) {
  const handle = edge.sourceHandle ?? edge.condition;
  return typeof handle === "string" && handle ? handle : "";
}

function nodeId(node, index) {
  return typeof node.id === "string" && node.id ? node.id : `#${index}`;
}

// Positions (top-left corners) for every node, laid out in layers from left to right.
// Returns {positions: Map(id -> {x, y}), edgePoints: Map(edgeIndex -> [{x, y}]), ms}.
export function layoutWorkflow(doc) {
  const started = performance.now();
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 28, ranksep: 70, edgesep: 14, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const nodes = Array.isArray(doc.nodes) ? doc.nodes : [];
  nodes.forEach((node, i) => g.setNode(nodeId(node, i), { width: NODE_WIDTH, height: NODE_HEIGHT }));
  const edges = Array.isArray(doc.edges) ? doc.edges : [];
  edges.forEach((edge, i) => {
    if (!g.hasNode(edge.source) || !g.hasNode(edge.target)) return;
    const label = edgeHandle(edge);
    g.setEdge(edge.source, edge.target,
      label ? { width: 7 * label.length + 8, height: 14, labelpos: "c" } : {}, String(i));
  });
  layout(g);
  const positions = new Map();
  for (const id of g.nodes()) {
    const n = g.node(id);
    positions.set(id, { x: n.x - NODE_WIDTH / 2, y: n.y - NODE_HEIGHT / 2 });
  }
  const edgePoints = new Map();
  for (const e of g.edges()) edgePoints.set(Number(e.name), g.edge(e).points);
  return { positions, edgePoints, ms: performance.now() - started };
}

// Pan and zoom on an <svg> whose drawing lives in `viewport` (a <g>).
export class PanZoom {
  constructor(svg, viewport) {
    Object.assign(this, { svg, viewport, x: 0, y: 0, k: 1 });
    svg.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = svg.getBoundingClientRect();
      this.zoomAt(event.clientX - box.left, event.clientY - box.top,
        event.deltaY < 0 ? 1.15 : 1 / 1.15);
    }, { passive: false });
    svg.addEventListener("pointerdown", (event) => {
      if (event.target !== svg && !event.target.classList.contains("tg-background")) return;
      const start = { cx: event.clientX, cy: event.clientY, x: this.x, y: this.y };
      svg.setPointerCapture(event.pointerId);
      svg.classList.add("tg-panning");
      const move = (e) => this.set(start.x + e.clientX - start.cx, start.y + e.clientY - start.cy, this.k);
      const up = () => {
        svg.removeEventListener("pointermove", move);
        svg.removeEventListener("pointerup", up);
        svg.classList.remove("tg-panning");
      };
      svg.addEventListener("pointermove", move);
      svg.addEventListener("pointerup", up);
    });
  }

  set(x, y, k) {
    Object.assign(this, { x, y, k: Math.min(3, Math.max(0.1, k)) });
    this.viewport.setAttribute("transform", `translate(${this.x} ${this.y}) scale(${this.k})`);
  }

  zoomAt(px, py, factor) {
    const k = Math.min(3, Math.max(0.1, this.k * factor));
    this.set(px - ((px - this.x) * k) / this.k, py - ((py - this.y) * k) / this.k, k);
  }

  zoomBy(factor) {
    const box = this.svg.getBoundingClientRect();
    this.zoomAt(box.width / 2, box.height / 2, factor);
  }

  // Screen (client) coordinates -> drawing coordinates.
  toDrawing(clientX, clientY) {
    const box = this.svg.getBoundingClientRect();
    return { x: (clientX - box.left - this.x) / this.k, y: (clientY - box.top - this.y) / this.k };
  }

  // The whole of `bounds` in view, but never below `minK`: a graph too big for that is
  // shown from its left edge at `minK`, and the user pans to the rest. Returns whether
  // the whole of it is in view.
  fit(bounds, pad = 24, minK = 0.1) {
    const box = this.svg.getBoundingClientRect();
    if (!bounds || !box.width) return true;
    const whole = Math.min(1.2, (box.width - 2 * pad) / Math.max(1, bounds.width),
      (box.height - 2 * pad) / Math.max(1, bounds.height));
    const k = Math.max(minK, whole);
    this.set(pad - bounds.x * k + Math.max(0, (box.width - 2 * pad - bounds.width * k) / 2),
      pad - bounds.y * k + Math.max(0, (box.height - 2 * pad - bounds.height * k) / 3), k);
    return k === whole;
  }

  // Pans so that the drawing's rectangle `r` is in view: along each axis where it is not,
  // it is brought to the middle.
  reveal(r) {
    const box = this.svg.getBoundingClientRect();
    if (!box.width) return;
    const [left, top] = [this.x + r.x * this.k, this.y + r.y * this.k];
    const x = left >= 0 && left + r.width * this.k <= box.width ? this.x
      : box.width / 2 - (r.x + r.width / 2) * this.k;
    const y = top >= 0 && top + r.height * this.k <= box.height ? this.y
      : box.height / 2 - (r.y + r.height / 2) * this.k;
    this.set(x, y, this.k);
  }
}

export function boundsOf(positions) {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const p of positions.values()) {
    x0 = Math.min(x0, p.x); y0 = Math.min(y0, p.y);
    x1 = Math.max(x1, p.x + NODE_WIDTH); y1 = Math.max(y1, p.y + NODE_HEIGHT);
  }
  return x0 === Infinity ? null : { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

// A canvas: <svg> with a pattern background, a viewport <g>, layers, and zoom buttons.
export function createCanvas(container) {
  container.classList.add("tg-canvas");
  const svg = el("svg", { class: "tg-svg" }, container);
  el("rect", { class: "tg-background", width: "100%", height: "100%" }, svg);
  const defs = el("defs", {}, svg);
  for (const [id, cls] of [["tg-arrow", "tg-arrowhead"], ["tg-arrow-hot", "tg-arrowhead tg-hot"]]) {
    const marker = el("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
      markerHeight: 7, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", class: cls }, marker);
  }
  const viewport = el("g", { class: "tg-viewport" }, svg);
  const layers = { edges: el("g", {}, viewport), nodes: el("g", {}, viewport), over: el("g", {}, viewport) };
  const panzoom = new PanZoom(svg, viewport);
  const tools = document.createElement("div");
  tools.className = "tg-tools";
  container.appendChild(tools);
  const button = (label, title, action) => {
    const b = document.createElement("button");
    Object.assign(b, { type: "button", textContent: label, title });
    b.addEventListener("click", action);
    tools.appendChild(b);
    return b;
  };
  button("+", "Zoom in", () => panzoom.zoomBy(1.25));
  button("−", "Zoom out", () => panzoom.zoomBy(1 / 1.25));
  return { svg, viewport, layers, panzoom, tools, button };
}

function curve(points) {
  if (points.length < 3) return `M${points[0].x},${points[0].y} L${points.at(-1).x},${points.at(-1).y}`;
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const mid = { x: (points[i].x + points[i + 1].x) / 2, y: (points[i].y + points[i + 1].y) / 2 };
    d += ` Q${points[i].x},${points[i].y} ${i === points.length - 2 ? `${points.at(-1).x},${points.at(-1).y}` : `${mid.x},${mid.y}`}`;
  }
  return d;
}

export function bezier(from, to) {
  const dx = Math.max(40, Math.abs(to.x - from.x) / 2);
  return `M${from.x},${from.y} C${from.x + dx},${from.y} ${to.x - dx},${to.y} ${to.x},${to.y}`;
}

export function drawEdgeLabel(layer, text, at) {
  if (!text) return null;
  const g = el("g", { class: "tg-edge-label", transform: `translate(${at.x} ${at.y})` }, layer);
  const width = 7 * text.length + 8;
  el("rect", { x: -width / 2, y: -8, width, height: 16, rx: 3 }, g);
  el("text", { "text-anchor": "middle", y: 4 }, g).textContent = text;
  return g;
}

export function formatMs(ms) {
  if (ms == null) return "";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

// One node box. `outcome` (run pages): {status, duration_ms, attempts}.
export function drawNode(layer, node, id, pos, outcome = null) {
  const status = outcome ? outcome.status : null;
  const g = el("g", { class: `tg-node${status ? ` tg-status-${status}` : ""}`,
    transform: `translate(${pos.x} ${pos.y})`, "data-node-id": id, tabindex: 0 }, layer);
  el("rect", { class: "tg-box", width: NODE_WIDTH, height: NODE_HEIGHT, rx: 6 }, g);
  // Thaiyyal's editor names nodes with data.label: shown first when there is one
  const label = typeof node.data?.label === "string" && node.data.label ? node.data.label : null;
  const type = String(node.type ?? "?");
  el("text", { class: "tg-title", x: 10, y: 20 }, g).textContent = clip(label ?? id, 24);
  el("text", { class: "tg-type", x: 10, y: 37 }, g).textContent = clip(label ? `${id} · ${type}` : type, 26);
  if (outcome) {
    const label = status === "not_reached" ? "not reached" : status;
    const extra = outcome.duration_ms != null ? ` · ${formatMs(outcome.duration_ms)}` : "";
    const attempts = outcome.attempts > 1 ? ` · ${outcome.attempts} attempts` : "";
    el("text", { class: "tg-outcome", x: 10, y: 52 }, g).textContent = `${label}${extra}${attempts}`;
  }
  const title = el("title", {}, g);
  title.textContent = outcome?.error ? `${id}: ${outcome.error}` : id;
  return g;
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

// Read-only picture of `doc`: returns {canvas, positions, layoutMs, select(id)}.
// `outcomes`: Map(id -> outcome) on run pages; `marks`: Map(id -> "added"|"removed"|"changed");
// `onSelect(id)`: a node was clicked.
export function renderWorkflow(container, doc, { outcomes = null, marks = null, onSelect = null } = {}) {
  const canvas = createCanvas(container);
  const { positions, edgePoints, ms } = layoutWorkflow(doc);
  const edges = Array.isArray(doc.edges) ? doc.edges : [];
  edges.forEach((edge, i) => {
    const points = edgePoints.get(i);
    if (!points) return;
    const reached = outcomes && outcomes.get(edge.target)?.status !== "not_reached"
      && outcomes.get(edge.source)?.status === "succeeded";
    el("path", { class: `tg-edge${reached ? " tg-edge-taken" : ""}`, d: curve(points),
      "marker-end": "url(#tg-arrow)" }, canvas.layers.edges);
    drawEdgeLabel(canvas.layers.edges, edgeHandle(edge), points[Math.floor(points.length / 2)]);
  });
  const boxes = new Map();
  (doc.nodes || []).forEach((node, i) => {
    const id = nodeId(node, i);
    const g = drawNode(canvas.layers.nodes, node, id, positions.get(id), outcomes?.get(id) ?? null);
    if (marks?.has(id)) g.classList.add(`tg-mark-${marks.get(id)}`);
    boxes.set(id, g);
    if (onSelect) {
      g.addEventListener("click", () => select(id));
      g.addEventListener("keydown", (event) => { if (event.key === "Enter") select(id); });
    }
  });
  function select(id) {
    for (const [other, g] of boxes) g.classList.toggle("tg-selected", other === id);
    if (onSelect) onSelect(id);
  }
  function reveal(id) {
    const p = positions.get(id);
    if (p) canvas.panzoom.reveal({ x: p.x, y: p.y, width: NODE_WIDTH, height: NODE_HEIGHT });
  }
  // The frame grows with the graph up to most of a screen; a graph bigger than that opens
  // at a zoom where labels stay readable (12 px titles at 9 px or more) and is panned, or
  // shrunk whole with Fit.
  const bounds = boundsOf(positions);
  if (bounds) {
    const tallest = Math.max(520, Math.min(900, window.innerHeight - 80));
    container.style.height = `${Math.round(Math.min(tallest, Math.max(220, bounds.height + 80)))}px`;
  }
  if (!canvas.panzoom.fit(bounds, 24, READABLE_ZOOM)) {
    // too big to read whole: open where the workflow starts, its first node with no input
    const targets = new Set(edges.map((e) => e.target));
    const ids = [...positions.keys()];
    reveal(ids.find((id) => !targets.has(id)) ?? ids[0]);
  }
  canvas.button("Fit", "Fit the whole workflow", () => canvas.panzoom.fit(boundsOf(positions)));
  container.dataset.layoutMs = ms.toFixed(1);
  return { canvas, positions, layoutMs: ms, select, reveal, boxes };
}

// The visual editor. Its state is the workflow JSON itself: nodes and edges keep every key
// they arrived with (Thaiyyal's `position`, labels, anything else), so a workflow exported
// from Thaiyyal's editor opens and saves with nothing lost; the server stores it in the
// canonical spelling (type names such as `opNode` and camelCase field keys such as `textOp`
// rewritten to ours). Positions are written only for nodes the user moves or when the user
// asks for an auto-layout; other nodes are drawn where the layered layout puts them.

import {
  NODE_HEIGHT, NODE_WIDTH, bezier, boundsOf, createCanvas, drawEdgeLabel, drawNode, edgeHandle,
  el, layoutWorkflow,
} from "./graph.js";

const HANDLE_R = 6;

function emptyValue(field) {
  if (field.default !== null && field.default !== undefined) return field.default;
  if (field.choices.length) return field.choices[0];
  return { number: 0, integer: 0, boolean: false, array: [], object: {}, workflow: { nodes: [], edges: [] } }[field.kind] ?? "";
}

// The output handles of a node: its type's fixed ones, those named by its data, and any an
// existing edge uses. "" is the plain output.
export function outputHandles(node, type, edges) {
  const names = [...(type?.handles.fixed ?? [])];
  const data = node.data || {};
  const from = type?.handles.from_data;
  if (from === "cases[].output_path" && Array.isArray(data.cases)) {
    for (const c of data.cases) if (c && typeof c.output_path === "string" && c.output_path) names.push(c.output_path);
  } else if (from === "paths[]" && Array.isArray(data.paths)) {
    for (const p of data.paths) {
      const name = typeof p === "string" ? p : p && (p.name ?? p.output_path ?? p.path);
      if (typeof name === "string" && name) names.push(name);
    }
  } else if (from && typeof data[from] === "string" && data[from]) {
    names.push(data[from]);
  }
  for (const e of edges) if (e.source === node.id) names.push(edgeHandle(e));
  const unique = [...new Set(names)];
  const named = unique.filter((n) => n !== "");
  return named.length && !unique.includes("") && type?.handles.fixed.length ? named : ["", ...named];
}

export class Editor {
  constructor(root, { doc, types, onChange, validate }) {
    Object.assign(this, { root, doc, onChange, validate, history: [], selected: null, problems: [] });
    // by our type names and by Thaiyyal's editor component names (`opNode`)
    this.types = new Map(types.node_types.flatMap((t) => [[t.type, t], ...(t.editor_names ?? []).map((n) => [n, t])]));
    this.typeList = types;
    this.build();
    this.render();
    this.fit();
  }

  // --- structure -----------------------------------------------------------------------

  build() {
    this.root.classList.add("te-editor");
    const toolbar = div("te-toolbar", this.root);
    const main = div("te-main", this.root);
    this.palette = div("te-palette", main);
    this.stage = div("te-stage", main);
    const side = div("te-side", main);
    this.inspector = div("te-inspector", side);
    this.codeHost = div("te-code", side);
    this.problemList = div("te-problems", this.root);
    const button = (label, title, action, name) => {
      const b = document.createElement("button");
      Object.assign(b, { type: "button", textContent: label, title, className: "button" });
      b.dataset.action = name;
      b.addEventListener("click", action);
      toolbar.appendChild(b);
    };
    button("Undo", "Undo (Ctrl+Z)", () => this.undo(), "undo");
    button("Delete", "Delete the selected node or edge (Delete)", () => this.deleteSelected(), "delete");
    button("Auto-layout", "Lay the workflow out left to right", () => this.autoLayout(), "layout");
    button("Fit", "Fit the whole workflow in view", () => this.fit(), "fit");
    this.status = div("te-status", toolbar);
    const hint = div("te-hint", this.root);
    hint.textContent = "Add nodes from the palette (click or drag); drag from a node's right handle onto another node to connect them; click a node to edit its data; Delete removes the selection; Ctrl+Z undoes.";
    this.root.insertBefore(hint, main);
    this.canvas = createCanvas(this.stage);
    this.buildPalette();
    this.canvas.svg.addEventListener("pointerdown", (event) => {
      if (event.target === this.canvas.svg || event.target.classList.contains("tg-background")) this.select(null);
    });
    this.stage.addEventListener("dragover", (event) => event.preventDefault());
    this.stage.addEventListener("drop", (event) => {
      event.preventDefault();
      const type = event.dataTransfer.getData("text/x-thaiyyal-node");
      if (type) this.addNode(type, this.canvas.panzoom.toDrawing(event.clientX, event.clientY));
    });
    document.addEventListener("keydown", (event) => {
      if (!this.root.isConnected || event.target.closest?.("input, textarea, select, .cm-editor")) return;
      if (event.key === "Delete" || event.key === "Backspace") {
        if (this.selected) { event.preventDefault(); this.deleteSelected(); }
      } else if ((event.ctrlKey || event.metaKey) && event.key === "z") {
        event.preventDefault();
        this.undo();
      }
    });
  }

  buildPalette() {
    const byGroup = new Map(this.typeList.groups.map((g) => [g, []]));
    for (const t of this.typeList.node_types) byGroup.get(t.group)?.push(t);
    for (const [group, types] of byGroup) {
      const details = document.createElement("details");
      details.open = ["Input/Output", "Operations", "Control Flow"].includes(group);
      const summary = document.createElement("summary");
      summary.textContent = group;
      details.appendChild(summary);
      for (const t of types) {
        const item = document.createElement("button");
        Object.assign(item, { type: "button", textContent: t.label, title: t.description, draggable: true });
        item.className = "te-palette-item";
        item.dataset.type = t.type;
        item.addEventListener("click", () => this.addNode(t.type));
        item.addEventListener("dragstart", (event) => event.dataTransfer.setData("text/x-thaiyyal-node", t.type));
        details.appendChild(item);
      }
      this.palette.appendChild(details);
    }
  }

  // --- changes -------------------------------------------------------------------------

  nodes() { return Array.isArray(this.doc.nodes) ? this.doc.nodes : (this.doc.nodes = []); }

  edges() { return Array.isArray(this.doc.edges) ? this.doc.edges : (this.doc.edges = []); }

  remember() {
    this.history.push(JSON.stringify(this.doc));
    if (this.history.length > 200) this.history.shift();
  }

  changed({ keepForm = false } = {}) {
    this.render({ keepForm });
    this.onChange(this.doc);
  }

  replace(doc, remember = true) {
    if (remember) this.remember();
    this.doc = doc;
    if (this.selected && !this.find(this.selected)) this.selected = null;
    this.render();
    this.fit();
  }

  undo() {
    if (!this.history.length) return;
    this.doc = JSON.parse(this.history.pop());
    if (this.selected && !this.find(this.selected)) this.selected = null;
    this.changed();
  }

  find(sel) {
    if (sel.node) return this.nodes().find((n) => n.id === sel.node);
    return this.edges()[sel.edge];
  }

  freeId(type) {
    const taken = new Set(this.nodes().map((n) => n.id));
    let i = 1;
    while (taken.has(`${type}_${i}`)) i++;
    return `${type}_${i}`;
  }

  addNode(type, at = null) {
    const info = this.types.get(type);
    const data = {};
    for (const f of info?.fields ?? []) if (f.required) data[f.name] = emptyValue(f);
    const position = at ? { x: Math.round(at.x - NODE_WIDTH / 2), y: Math.round(at.y - NODE_HEIGHT / 2) }
      : this.freeSpot();
    this.remember();
    const node = { id: this.freeId(type), type, position, data };
    this.nodes().push(node);
    this.selected = { node: node.id };
    this.changed();
    return node;
  }

  // The first place in view, in reading order, where a new node overlaps no other.
  freeSpot() {
    const box = this.stage.getBoundingClientRect();
    const topLeft = this.canvas.panzoom.toDrawing(box.left + 24, box.top + 48);
    const bottomRight = this.canvas.panzoom.toDrawing(box.right - 24, box.bottom - 24);
    const [dx, dy] = [NODE_WIDTH + 60, NODE_HEIGHT + 30];
    const cols = Math.max(1, Math.floor((bottomRight.x - topLeft.x) / dx));
    const taken = [...this.positions.values()];
    for (let i = 0; i < 400; i++) {
      const x = Math.round(topLeft.x + (i % cols) * dx);
      const y = Math.round(topLeft.y + Math.floor(i / cols) * dy);
      if (!taken.some((p) => Math.abs(p.x - x) < dx - 20 && Math.abs(p.y - y) < dy - 10)) return { x, y };
    }
    return { x: Math.round(topLeft.x), y: Math.round(topLeft.y) };
  }

  connect(source, handle, target) {
    if (source === target) return;
    const exists = this.edges().some((e) => e.source === source && e.target === target && edgeHandle(e) === handle);
    if (exists) return;
    this.remember();
    const edge = { id: `e-${source}-${handle || "out"}-${target}`, source, target };
    if (handle) edge.sourceHandle = handle;
    this.edges().push(edge);
    this.changed();
  }

  deleteSelected() {
    const sel = this.selected;
    if (!sel) return;
    this.remember();
    if (sel.node) {
      this.doc.nodes = this.nodes().filter((n) => n.id !== sel.node);
      this.doc.edges = this.edges().filter((e) => e.source !== sel.node && e.target !== sel.node);
    } else {
      this.edges().splice(sel.edge, 1);
    }
    this.selected = null;
    this.changed();
  }

  autoLayout() {
    this.remember();
    const { positions } = layoutWorkflow(this.doc);
    for (const node of this.nodes()) {
      const p = positions.get(node.id);
      if (p) node.position = { ...(node.position || {}), x: Math.round(p.x), y: Math.round(p.y) };
    }
    this.changed();
    this.fit();
  }

  renameNode(node, id) {
    if (!id || this.nodes().some((n) => n !== node && n.id === id)) return false;
    this.remember();
    for (const e of this.edges()) {
      if (e.source === node.id) e.source = id;
      if (e.target === node.id) e.target = id;
    }
    node.id = id;
    this.selected = { node: id };
    this.changed();
    return true;
  }

  setField(node, field, raw) {
    const data = node.data && typeof node.data === "object" ? node.data : (node.data = {});
    const key = fieldKeys(field).find((k) => k in data) ?? field.name;
    this.remember();
    if (raw === undefined) delete data[key];
    else data[key] = raw;
    this.changed({ keepForm: true }); // the form already shows it; keep the user's focus
  }

  // --- drawing -------------------------------------------------------------------------

  fit() { this.canvas.panzoom.fit(boundsOf(this.positions)); }

  render({ keepForm = false } = {}) {
    const { layers } = this.canvas;
    layers.edges.replaceChildren();
    layers.nodes.replaceChildren();
    const missing = this.nodes().some((n) => !validPosition(n.position));
    const laid = missing ? layoutWorkflow(this.doc).positions : new Map();
    this.positions = new Map();
    this.handleAt = new Map();
    for (const node of this.nodes()) {
      const p = validPosition(node.position) ? node.position : laid.get(node.id) ?? { x: 0, y: 0 };
      this.positions.set(node.id, p);
    }
    const byNode = this.problemsByNode();
    for (const node of this.nodes()) this.drawEditableNode(node, byNode.get(node.id));
    this.edges().forEach((edge, i) => this.drawEdge(edge, i));
    if (!keepForm) this.renderInspector();
    this.status.textContent = `${this.nodes().length} nodes · ${this.edges().length} edges`;
  }

  drawEditableNode(node, problems) {
    const pos = this.positions.get(node.id);
    const g = drawNode(this.canvas.layers.nodes, node, String(node.id), pos);
    g.classList.add("te-node");
    if (this.selected?.node === node.id) g.classList.add("tg-selected");
    decorate(g, problems);
    const input = el("circle", { class: "te-handle te-in", cx: 0, cy: NODE_HEIGHT / 2, r: HANDLE_R, "data-handle-in": node.id }, g);
    input.addEventListener("pointerdown", (event) => this.startDetach(event, node.id));
    this.handleAt.set(`${node.id}\u0000<in>`, { x: pos.x, y: pos.y + NODE_HEIGHT / 2 });
    const outs = outputHandles(node, this.types.get(node.type), this.edges());
    outs.forEach((name, i) => {
      const y = (NODE_HEIGHT * (i + 1)) / (outs.length + 1);
      const h = el("circle", { class: "te-handle te-out", cx: NODE_WIDTH, cy: y, r: HANDLE_R, "data-handle-out": name }, g);
      if (name) el("text", { class: "te-handle-label", x: NODE_WIDTH + 9, y: y + 4 }, g).textContent = name;
      this.handleAt.set(`${node.id}\u0000${name}`, { x: pos.x + NODE_WIDTH, y: pos.y + y });
      h.addEventListener("pointerdown", (event) => this.startConnect(event, node.id, name));
    });
    g.addEventListener("pointerdown", (event) => {
      if (event.target.classList.contains("te-handle")) return;
      this.startMove(event, node);
    });
  }

  drawEdge(edge, i) {
    const handle = edgeHandle(edge);
    const from = this.handleAt.get(`${edge.source}\u0000${handle}`);
    const to = this.handleAt.get(`${edge.target}\u0000<in>`);
    if (!from || !to) return;
    const selected = this.selected && !this.selected.node && this.selected.edge === i;
    const d = bezier(from, to);
    const g = el("g", { class: `te-edge${selected ? " tg-selected" : ""}`, "data-edge-index": i }, this.canvas.layers.edges);
    el("path", { class: "te-edge-hit", d }, g);
    el("path", { class: "tg-edge", d, "marker-end": selected ? "url(#tg-arrow-hot)" : "url(#tg-arrow)" }, g);
    if (handle) drawEdgeLabel(g, handle, { x: (from.x + to.x) / 2, y: (from.y + to.y) / 2 });
    g.addEventListener("pointerdown", (event) => {
      event.stopPropagation();
      this.select({ edge: i });
    });
  }

  select(sel) {
    this.selected = sel;
    this.render();
  }

  startMove(event, node) {
    event.stopPropagation();
    event.preventDefault();
    const startPointer = this.canvas.panzoom.toDrawing(event.clientX, event.clientY);
    const startPos = { ...this.positions.get(node.id) };
    let moved = false;
    if (this.selected?.node !== node.id) this.select({ node: node.id });
    const move = (e) => {
      const p = this.canvas.panzoom.toDrawing(e.clientX, e.clientY);
      const x = Math.round(startPos.x + p.x - startPointer.x);
      const y = Math.round(startPos.y + p.y - startPointer.y);
      if (!moved) {
        if (Math.abs(x - startPos.x) + Math.abs(y - startPos.y) < 3) return;
        moved = true;
        this.remember();
      }
      node.position = { ...(validPosition(node.position) ? node.position : {}), x, y };
      this.render();
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      if (moved) this.onChange(this.doc);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  startConnect(event, source, handle) {
    event.stopPropagation();
    event.preventDefault();
    const from = this.handleAt.get(`${source}\u0000${handle}`);
    const line = el("path", { class: "te-connecting", d: bezier(from, from) }, this.canvas.layers.over);
    const move = (e) => line.setAttribute("d", bezier(from, this.canvas.panzoom.toDrawing(e.clientX, e.clientY)));
    const up = (e) => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      line.remove();
      const target = document.elementFromPoint(e.clientX, e.clientY)?.closest?.(".te-node");
      if (target) this.connect(source, handle, target.dataset.nodeId);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  // Dragging from an input handle picks up the last edge into it: drop it on another node
  // to reconnect it there, or anywhere else to disconnect it.
  startDetach(event, target) {
    const edges = this.edges();
    const index = edges.findLastIndex((e) => e.target === target);
    if (index < 0) return;
    event.stopPropagation();
    event.preventDefault();
    const edge = edges[index];
    const handle = edgeHandle(edge);
    const from = this.handleAt.get(`${edge.source}\u0000${handle}`);
    this.remember();
    edges.splice(index, 1);
    this.selected = null;
    this.render();
    const line = el("path", { class: "te-connecting", d: bezier(from, this.canvas.panzoom.toDrawing(event.clientX, event.clientY)) }, this.canvas.layers.over);
    const move = (e) => line.setAttribute("d", bezier(from, this.canvas.panzoom.toDrawing(e.clientX, e.clientY)));
    const up = (e) => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      line.remove();
      const node = document.elementFromPoint(e.clientX, e.clientY)?.closest?.(".te-node");
      const next = node?.dataset.nodeId;
      if (next && next !== edge.source) edges.push({ ...edge, target: next });
      this.changed();
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  showProblems(problems) {
    const nodes = this.nodes();
    this.problems = problems.map((p) => {
      const m = /^\$\.nodes\[(\d+)\]/.exec(p.path);
      return { ...p, node: m ? nodes[Number(m[1])]?.id : null };
    });
    this.problemList.replaceChildren();
    this.problemList.classList.toggle("te-ok", !problems.length);
    if (!problems.length) {
      this.problemList.textContent = "Valid: the engine accepts this workflow.";
    } else {
      const ul = document.createElement("ul");
      ul.className = "errorlist";
      for (const p of this.problems) {
        const li = document.createElement("li");
        li.textContent = `${p.node ? `${p.node}: ` : ""}${p.path}: ${p.message}`;
        if (p.node) li.addEventListener("click", () => this.select({ node: p.node }));
        ul.appendChild(li);
      }
      this.problemList.appendChild(ul);
    }
    // in place: a redraw would replace the elements under the user's pointer
    const byNode = this.problemsByNode();
    for (const g of this.canvas.layers.nodes.querySelectorAll(".te-node")) decorate(g, byNode.get(g.dataset.nodeId));
  }

  problemsByNode() {
    const byNode = new Map();
    for (const p of this.problems) if (p.node) byNode.set(p.node, [...(byNode.get(p.node) || []), p.message]);
    return byNode;
  }

  // --- the form of the selected node or edge -------------------------------------------

  renderInspector() {
    const box = this.inspector;
    box.replaceChildren();
    const sel = this.selected && this.find(this.selected);
    box.hidden = !sel;
    if (!sel) return;
    if (!this.selected.node) {
      heading(box, `Edge ${sel.source} → ${sel.target}`);
      para(box, edgeHandle(sel) ? `handle: ${edgeHandle(sel)}` : "plain output");
      return;
    }
    this.nodeForm(box, sel);
  }

  nodeForm(box, node) {
    const type = this.types.get(node.type);
    heading(box, `${type?.label ?? node.type} (${node.type})`);
    if (type?.description) para(box, type.description, "te-help");
    const form = div("te-form", box);
    const id = row(form, "id", true);
    const idInput = input(id, "text", node.id);
    idInput.name = "node-id";
    idInput.addEventListener("change", () => {
      if (!this.renameNode(node, idInput.value.trim())) idInput.classList.add("te-bad");
    });
    const data = node.data && typeof node.data === "object" ? node.data : {};
    for (const field of type?.fields ?? []) this.fieldControl(form, node, field, data);
    const declared = new Set((type?.fields ?? []).flatMap(fieldKeys));
    const others = Object.keys(data).filter((k) => !declared.has(k));
    if (others.length) para(box, `Other data keys, kept as they are: ${others.join(", ")}`, "te-help");
  }

  fieldControl(form, node, field, data) {
    const key = fieldKeys(field).find((k) => k in data);
    const value = key === undefined ? undefined : data[key];
    const r = row(form, `${field.name}${field.required ? " *" : ""}`, field.required, field.kind);
    let control;
    const apply = (v) => this.setField(node, field, v);
    if (field.choices.length || field.kind === "boolean") {
      control = document.createElement("select");
      const options = field.kind === "boolean" && !field.choices.length ? [true, false] : field.choices;
      const none = option(control, "", field.default !== null ? `(default: ${field.default})` : "(not set)");
      none.selected = value === undefined;
      for (const c of options) option(control, JSON.stringify(c), String(c)).selected = value !== undefined
        && (value === c || (typeof value === "string" && value.toLowerCase() === c));
      if (value !== undefined && !options.some((c) => value === c || (typeof value === "string" && value.toLowerCase() === c))) {
        option(control, JSON.stringify(value), `${value} (not allowed)`).selected = true;
      }
      control.addEventListener("change", () => apply(control.value === "" ? undefined : JSON.parse(control.value)));
    } else if (["array", "object", "any", "workflow"].includes(field.kind)) {
      control = document.createElement("textarea");
      control.rows = field.kind === "workflow" ? 6 : 3;
      control.value = value === undefined ? "" : JSON.stringify(value, null, 1);
      control.placeholder = field.default !== null ? JSON.stringify(field.default) : field.kind;
      control.addEventListener("change", () => {
        if (control.value.trim() === "") return apply(undefined);
        try { apply(JSON.parse(control.value)); } catch { control.classList.add("te-bad"); }
      });
    } else {
      control = input(r, "text", value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value));
      control.placeholder = field.default !== null ? String(field.default) : field.kind;
      control.addEventListener("change", () => {
        const text = control.value;
        if (text === "" && !field.required) return apply(undefined);
        if ((field.kind === "number" || field.kind === "integer") && text.trim() !== "" && !Number.isNaN(Number(text))) {
          return apply(Number(text));
        }
        return apply(text);
      });
    }
    control.name = `field-${field.name}`;
    r.appendChild(control);
  }
}

// Marks a drawn node with its validation problems (or clears them).
function decorate(g, problems) {
  g.classList.toggle("te-invalid", !!problems);
  g.querySelector(".te-problem-badge")?.remove();
  g.querySelector("title").textContent = problems ? problems.join("\n") : g.dataset.nodeId;
  if (!problems) return;
  const badge = el("g", { class: "te-problem-badge", transform: `translate(${NODE_WIDTH - 8} 8)` }, g);
  el("circle", { r: 9 }, badge);
  el("text", { "text-anchor": "middle", y: 4 }, badge).textContent = String(problems.length);
}

// The data keys a field may be written under: its name, its aliases, and the camelCase
// spelling Thaiyyal's editor uses (`text_op` as `textOp`).
function fieldKeys(field) {
  const camel = field.name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
  return [...new Set([field.name, ...field.aliases, camel])];
}

function validPosition(p) {
  return p && typeof p === "object" && Number.isFinite(p.x) && Number.isFinite(p.y);
}

function div(cls, parent) {
  const d = document.createElement("div");
  d.className = cls;
  parent.appendChild(d);
  return d;
}

function heading(parent, text) {
  const h = document.createElement("h3");
  h.textContent = text;
  parent.appendChild(h);
}

function para(parent, text, cls = "") {
  const p = document.createElement("p");
  p.textContent = text;
  p.className = cls;
  parent.appendChild(p);
}

function row(form, label, required, kind = "") {
  const r = div("te-row", form);
  const l = document.createElement("label");
  l.textContent = label;
  if (required) l.className = "required";
  if (kind) l.title = kind;
  r.appendChild(l);
  return r;
}

function input(parent, type, value) {
  const i = document.createElement("input");
  Object.assign(i, { type, value });
  parent.appendChild(i);
  return i;
}

function option(select, value, label) {
  const o = document.createElement("option");
  Object.assign(o, { value, textContent: label });
  select.appendChild(o);
  return o;
}

// Read-only graphs on the workflow, version, compare, execute and run pages. Each
// <div data-graph="ID"> draws the JSON in <script id="ID" type="application/json">:
// {definition, outcomes?: [{node_id, status, duration_ms, attempts, error, output}],
//  marks?: {node_id: "added"|"removed"|"changed"}, failed_node?}.

import { edgeHandle, formatMs, renderWorkflow } from "./graph.js";

function json(value) {
  return JSON.stringify(value, null, 2) ?? "null";
}

function section(panel, title, text, cls = "") {
  const h = document.createElement("h3");
  h.textContent = title;
  const pre = document.createElement("pre");
  pre.className = `tg-pre ${cls}`;
  pre.textContent = text;
  panel.append(h, pre);
}

// What a node received: the outputs of the nodes with an edge into it, in edge order.
function inputsOf(doc, id, outcomes) {
  return (doc.edges || []).filter((e) => e.target === id).map((e) => {
    const from = outcomes.get(e.source);
    const handle = edgeHandle(e);
    return { from: e.source + (handle ? ` (${handle})` : ""), output: from ? from.output : undefined };
  });
}

function showDetails(panel, doc, id, outcomes, marks) {
  const node = (doc.nodes || []).find((n) => n.id === id) || {};
  panel.replaceChildren();
  const h = document.createElement("h2");
  h.textContent = `${id} · ${node.type ?? "?"}`;
  panel.appendChild(h);
  if (marks?.has(id)) {
    const p = document.createElement("p");
    p.textContent = `${marks.get(id)} in the newer version`;
    panel.appendChild(p);
  }
  const outcome = outcomes?.get(id);
  if (outcome) {
    const p = document.createElement("p");
    p.className = `tg-badge tg-status-${outcome.status}`;
    p.textContent = `${outcome.status.replace("_", " ")}${outcome.duration_ms != null
      ? ` in ${formatMs(outcome.duration_ms)}` : ""} · attempts: ${outcome.attempts ?? 0}`;
    panel.appendChild(p);
    if (outcome.error) section(panel, "Error", outcome.error, "tg-error");
    section(panel, "Input", json(inputsOf(doc, id, outcomes)));
    section(panel, "Output", outcome.output_truncated ? `${json(outcome.output)}\n(truncated when stored)`
      : json(outcome.output));
  }
  section(panel, "Data", json(node.data ?? {}));
}

function mount(container) {
  const source = document.getElementById(container.dataset.graph);
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const doc = data.definition || { nodes: [], edges: [] };
  const outcomes = data.outcomes ? new Map() : null;
  if (outcomes) {
    for (const n of data.outcomes) outcomes.set(n.node_id, n);
    for (const n of doc.nodes || []) {
      if (!outcomes.has(n.id)) outcomes.set(n.id, { node_id: n.id, status: "not_reached", attempts: 0 });
      else if (["queued", "cancelled"].includes(outcomes.get(n.id).status)) outcomes.get(n.id).status = "not_reached";
    }
  }
  const marks = data.marks ? new Map(Object.entries(data.marks)) : null;
  const wrap = document.createElement("div");
  wrap.className = "tg-wrap";
  const stage = document.createElement("div");
  stage.className = "tg-stage";
  const panel = document.createElement("aside");
  panel.className = "tg-details";
  panel.textContent = "Click a node to see its data" + (outcomes ? ", input, output, error and attempts." : ".");
  wrap.append(stage, panel);
  container.appendChild(wrap);
  const started = performance.now();
  const view = renderWorkflow(stage, doc, { outcomes, marks,
    onSelect: (id) => showDetails(panel, doc, id, outcomes, marks) });
  if (data.failed_node && view.boxes.has(data.failed_node)) {
    view.select(data.failed_node);
    view.reveal(data.failed_node);  // a big graph opens at its top-left corner
  }
  // layout and drawing, to the first view: what a page with a big graph waits for
  container.dataset.renderMs = (performance.now() - started).toFixed(1);
  container.dataset.ready = "1";
}

document.querySelectorAll("[data-graph]").forEach(mount);

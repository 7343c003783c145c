// The workflow change form: the visual editor and a JSON code editor (CodeMirror, with
// highlighting and JSON linting) bound to the form's `definition` field. Saving the form
// saves a new version. Every change is checked by POST /api/v1/workflow/validate and each
// problem is shown on its node.

import { json, jsonParseLinter } from "@codemirror/lang-json";
import { forEachDiagnostic, forceLinting, linter, lintGutter } from "@codemirror/lint";
import { EditorView, basicSetup } from "codemirror";
import { Editor } from "./editor.js";

function csrfToken() {
  return document.querySelector("[name=csrfmiddlewaretoken]")?.value ?? "";
}

function parse(text) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// The engine's problems as code-editor diagnostics: on the line of their node's "id" (or
// the first line for the workflow as a whole).
function engineDiagnostics(text, problems) {
  return problems.map((p) => {
    let from = 0;
    if (p.node != null) {
      const match = new RegExp(`"id"\\s*:\\s*${escapeRegExp(JSON.stringify(p.node))}`).exec(text);
      if (match) from = match.index;
    }
    const end = text.indexOf("\n", from);
    return { from, to: end < 0 ? text.length : end, severity: "error", source: "engine",
      message: `${p.path}: ${p.message}` };
  });
}

async function mount(textarea) {
  const root = document.createElement("div");
  textarea.parentNode.insertBefore(root, textarea);
  textarea.style.display = "none";
  const typesUrl = textarea.dataset.nodeTypesUrl || "/api/v1/node-types";
  const validateUrl = textarea.dataset.validateUrl || "/api/v1/workflow/validate";
  const response = await fetch(typesUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) {
    root.textContent = `The editor could not load the node types (${response.status}); edit the JSON below.`;
    textarea.style.display = "";
    return;
  }
  const types = await response.json();
  const initial = parse(textarea.value) ?? { nodes: [], edges: [] };
  let timer = null;
  let seq = 0;
  let applyingCode = false;
  // the engine's problems and the text they were found in (as the code editor shows it)
  let checked = { text: null, problems: [], fresh: false };
  const parseLint = jsonParseLinter();
  // JSON syntax errors, else the engine's problems while the text is the one checked
  // (positions in other text would be wrong; the next validation brings them back)
  const lint = (view) => {
    const syntax = parseLint(view);
    if (syntax.length) return syntax;
    const text = view.state.doc.toString();
    return text === checked.text || JSON.stringify(parse(text), null, 2) === checked.text
      ? engineDiagnostics(text, checked.problems) : [];
  };

  const validate = (doc) => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++seq;
      const answer = await fetch(validateUrl, {
        method: "POST", credentials: "same-origin", body: JSON.stringify(doc),
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      });
      if (mine !== seq) return;
      const body = await answer.json().catch(() => ({}));
      editor.showProblems(answer.ok ? [] : body.details ?? [{ path: "$", message: body.error ?? `HTTP ${answer.status}` }]);
      // The code editor shows them through its linter (below), which owns the whole list:
      // diagnostics set from outside it were wiped whenever it ran after an edit.
      checked = { text: JSON.stringify(doc, null, 2), problems: editor.problems, fresh: true };
      // an update with no change, which needsRefresh turns into a lint; forced to run now
      // (forceLinting alone runs only a lint already scheduled by an edit)
      code.dispatch({});
      forceLinting(code);
      root.dataset.validated = String(mine);
    }, 300);
  };

  const writeBack = (doc) => {
    const text = JSON.stringify(doc, null, 2);
    textarea.value = text;
    applyingCode = true;
    code.dispatch({ changes: { from: 0, to: code.state.doc.length, insert: text } });
    applyingCode = false;
    validate(doc);
  };

  const editor = new Editor(root, { doc: initial, types, onChange: writeBack });
  const code = new EditorView({
    doc: textarea.value,
    parent: editor.codeHost,
    extensions: [basicSetup, json(), linter(lint, { needsRefresh: () => {
      const fresh = checked.fresh;
      checked.fresh = false;
      return fresh;
    } }), lintGutter(),
      EditorView.lineWrapping,
      EditorView.updateListener.of((update) => {
        if (!update.docChanged || applyingCode) return;
        const text = update.state.doc.toString();
        textarea.value = text;
        const doc = parse(text);
        if (doc) {
          editor.replace(doc);
          validate(doc);
        }
      })],
  });
  const diagnostics = () => {
    const found = [];
    forEachDiagnostic(code.state, (d, from, to) => found.push({ message: d.message, source: d.source ?? null,
      text: code.state.sliceDoc(from, to) }));
    return found;
  };
  window.thaiyyalEditor = { editor, code, textarea, diagnostics };
  validate(initial);
  root.dataset.ready = "1";
}

const field = document.querySelector("textarea[name=definition]");
if (field) mount(field);

// The workflow change form: the visual editor and a JSON code editor (CodeMirror, with
// highlighting and JSON linting) bound to the form's `definition` field. Saving the form
// saves a new version. Every change is checked by POST /api/v1/workflow/validate and each
// problem is shown on its node.

import { json, jsonParseLinter } from "@codemirror/lang-json";
import { linter, lintGutter } from "@codemirror/lint";
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
    extensions: [basicSetup, json(), linter(jsonParseLinter()), lintGutter(),
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
  window.thaiyyalEditor = { editor, code, textarea };
  validate(initial);
  root.dataset.ready = "1";
}

const field = document.querySelector("textarea[name=definition]");
if (field) mount(field);

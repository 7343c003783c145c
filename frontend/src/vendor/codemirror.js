// CodeMirror 6, built on its own into workflows/static/vendor/codemirror.js as the global
// ThaiyyalCodeMirror (one copy of its state for every extension); the editor page's bundle
// reads it from there (src/globals/codemirror.js).
export { json, jsonParseLinter } from "@codemirror/lang-json";
export { forEachDiagnostic, forceLinting, linter, lintGutter } from "@codemirror/lint";
export { EditorView, basicSetup } from "codemirror";

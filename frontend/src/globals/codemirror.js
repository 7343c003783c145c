// What our code imports as "codemirror", "@codemirror/lang-json" and "@codemirror/lint"
// (esbuild --alias): the vendored build, loaded by the page before our bundle.
export const {
  json, jsonParseLinter, forEachDiagnostic, forceLinting, linter, lintGutter, EditorView,
  basicSetup,
} = window.ThaiyyalCodeMirror;

// The layout library, built on its own into workflows/static/vendor/dagre.js as the global
// ThaiyyalDagre; our pages' bundles read it from there (src/globals/dagre.js).
export { Graph, layout } from "@dagrejs/dagre";

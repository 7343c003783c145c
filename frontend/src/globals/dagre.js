// What our code imports as "@dagrejs/dagre" (esbuild --alias): the vendored build, loaded
// by the page before our bundle.
export const { Graph, layout } = window.ThaiyyalDagre;

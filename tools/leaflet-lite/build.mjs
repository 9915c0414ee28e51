// Builds static/vendor/leaflet-1.9.4-lite/leaflet.js and leaflet.css from Leaflet 1.9.4's own
// ES modules (see entry.js):
//   cd tools/leaflet-lite && npm install --no-save leaflet@1.9.4 esbuild@0.28.2 && node build.mjs
// node_modules/ stays out of the repository (.gitignore) and out of static/ (WhiteNoise serves it).
import * as esbuild from 'esbuild';
import {readFileSync, writeFileSync} from 'node:fs';

const OUT = '../../static/vendor/leaflet-1.9.4-lite/';

// Canvas and VML renderers are only ever chosen on request (preferCanvas) or on old IE.
const stubs = {
  './Canvas': 'export function canvas() { return null; } export var Canvas = null;',
  './SVG.VML': 'export var vmlCreate = null; export var vmlMixin = {};',
};
const stub = {
  name: 'stub',
  setup(build) {
    build.onResolve({filter: /^\.\/(Canvas|SVG\.VML)$/}, (args) => ({path: args.path, namespace: 'stub'}));
    build.onLoad({filter: /.*/, namespace: 'stub'}, (args) => ({contents: stubs[args.path], loader: 'js'}));
  },
};
const banner = '/* Leaflet 1.9.4 (BSD-2-Clause, see LICENSE), the parts fieldwalk\'s walk and capture maps use; built by tools/leaflet-lite/build.mjs */';
await esbuild.build({
  entryPoints: ['entry.js'], bundle: true, minify: true, format: 'iife', globalName: 'L', target: 'es2015',
  outfile: OUT + 'leaflet.js', plugins: [stub], banner: {js: banner}, legalComments: 'none', logLevel: 'warning',
});

// The style sheet without the rules of what was left out (and old IE, print, retina images).
const unused = /leaflet-(control-layers|control-scale|tooltip|image-layer|zoom-box|oldie|vml|retina|default-icon-path|marker-shadow|crosshair|popup-scrolled)|lvml|@media print/;
const css = readFileSync('node_modules/leaflet/dist/leaflet.css', 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
const kept = [];
let depth = 0, start = 0;
for (let i = 0; i < css.length; i++) {
  if (css[i] === '{') depth++;
  if (css[i] === '}' && --depth === 0) {
    const rule = css.slice(start, i + 1).trim();
    const selectors = rule.slice(0, rule.indexOf('{'));
    // A rule goes only when every selector in its list is about something left out.
    if (rule && !selectors.split(',').every((s) => unused.test(s))) kept.push(rule);
    start = i + 1;
  }
}
writeFileSync(OUT + 'leaflet.css', banner + '\n' + kept.join('\n') + '\n');

// Bundles src/main.jsx into ../../internal/graphiql/assets/ (graphiql.js,
// graphiql.css), which the API embeds. Deterministic: no timestamps, no
// source maps, so `make web` followed by git diff tells whether the
// committed bundle is stale.
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '../../internal/graphiql/assets');

await esbuild.build({
  entryPoints: { graphiql: path.join(here, 'src/main.jsx') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  platform: 'browser',
  legalComments: 'linked',
  loader: { '.woff2': 'dataurl', '.woff': 'dataurl', '.svg': 'dataurl', '.png': 'dataurl' },
  define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
  logLevel: 'warning',
});

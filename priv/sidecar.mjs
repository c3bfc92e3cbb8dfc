// The sidecar entry that the Mix plugin starts: `node priv/sidecar.mjs`.
// It loads the bundle that `npm run build` makes (dist/bundle/, see
// scripts/bundle-sidecar.mjs), or tsc's modules in dist/ when the bundle is
// missing or older than them (after a bare `tsc`). Run `npm run build` at
// the repository root first.
import { statSync } from 'node:fs';

const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const bundle = mtime('../dist/bundle/sidecar.mjs');
const { main } = await import(bundle >= 0 && bundle >= mtime('../dist/sidecar/main.js') ? '../dist/bundle/sidecar.mjs' : '../dist/sidecar/main.js');

main();

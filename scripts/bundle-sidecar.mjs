// After tsc: the sidecar as an ES module bundle in dist/bundle/ (esbuild), so
// that a sidecar start reads and links a few files instead of about a
// hundred modules of ours, msgpackr's and dockerode's. Code split at the
// dynamic imports: the hello does not wait for the runner.
//
// dockerode is bundled without what only rare paths need, as
// src/engine/dockerode.ts does for tsc's modules (there with require.cache
// stand-ins, which a bundle bypasses): dockerode's session.js (BuildKit
// sessions over gRPC, never used here), its buildkit.js (protobufjs) and
// docker-modem's ssh.js (ssh:// engines) become stand-ins that load the real
// module from node_modules on first use.
//
// priv/sidecar.mjs falls back to tsc's dist/sidecar/ when the bundle is
// missing or older than it.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** A CommonJS stand-in for `request` (resolved as the main module of package `from` would) that loads it on first use. */
function deferredModule(request, from, kind) {
  return `
const target = ${kind === 'function' ? 'function deferred() {}' : '{}'};
let real;
function load() {
  if (real === undefined) {
    const { createRequire } = __ndtRequire('node:module');
    real = createRequire(__ndtRequire.resolve(${JSON.stringify(from)}))(${JSON.stringify(request)});
  }
  return real;
}
module.exports = new Proxy(target, {
  get: (_t, key) => Reflect.get(load(), key),
  has: (_t, key) => Reflect.has(load(), key),
  apply: (_t, self, args) => Reflect.apply(load(), self, args),
  construct: (_t, args) => Reflect.construct(load(), args),
});`;
}

const deferRarePaths = {
  name: 'defer-rare-paths',
  setup(b) {
    // tsc's dockerode.ts loads dockerode through require; the bundle imports it.
    b.onLoad({ filter: /[/\\]dist[/\\]engine[/\\]dockerode\.js$/ }, () => ({
      contents: "export { default } from 'dockerode';",
      resolveDir: root,
      loader: 'js',
    }));
    // dockerode's session.js (BuildKit sessions: gRPC) and buildkit.js (their progress: protobufjs) also
    // read files next to themselves: the stand-ins load the real ones, where they are.
    b.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (a) =>
      /[/\\]dockerode[/\\]lib$/.test(a.resolveDir) ? { path: `${a.path}.js`, namespace: 'deferred', pluginData: { from: 'dockerode', kind: a.path === './session' ? 'function' : 'object' } } : undefined,
    );
    b.onResolve({ filter: /^\.\/ssh$/ }, (a) =>
      /[/\\]docker-modem[/\\]lib$/.test(a.resolveDir) ? { path: './ssh.js', namespace: 'deferred', pluginData: { from: 'docker-modem', kind: 'function' } } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'deferred' }, (a) => ({ contents: deferredModule(a.path, a.pluginData.from, a.pluginData.kind), loader: 'js' }));
  },
};

// Chunk names carry a hash: clear out the previous build's.
rmSync(new URL('../dist/bundle', import.meta.url), { recursive: true, force: true });

await build({
  absWorkingDir: root,
  // dockerode: an entry of its own only so that tests can probe the bundled client.
  entryPoints: { sidecar: 'dist/sidecar/main.js', dockerode: 'dist/engine/dockerode.js' },
  outdir: 'dist/bundle',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // CommonJS inside an ES module bundle needs a real require (node: built-ins, the stand-ins' loads).
  banner: { js: "import { createRequire as __ndtCreateRequire } from 'node:module'; const require = __ndtCreateRequire(import.meta.url); const __ndtRequire = require;" },
  plugins: [deferRarePaths],
  sourcemap: 'linked',
  logLevel: 'warning',
});

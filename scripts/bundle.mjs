// `npm run build`, after tsc: every process this package starts runs from an
// ES module bundle in priv/ (esbuild), so that a start reads and links a few
// files instead of about a hundred modules of ours, msgpackr's and
// dockerode's. Code split at the dynamic imports: the sidecar's hello and the
// CLI's usage do not wait for the runner.
//
//   priv/sidecar.mjs        the sidecar the Mix plugin starts (`node priv/sidecar.mjs`)
//   priv/nerves-docker.mjs  the CLI (package.json "bin")
//   priv/dockerode.mjs      the bundled engine client alone, for tests to probe
//   priv/chunk-*.mjs        what they share
//
// tsc's dist/ serves only the library API (package.json "exports").
//
// dockerode is bundled without what only rare paths need: its session.js
// (BuildKit sessions over gRPC, never used here), its buildkit.js
// (protobufjs) and docker-modem's ssh.js (ssh:// engines) become stand-ins
// that load the real module from node_modules on first use.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const OUT = 'priv';
/** The CLI's source: the one place that names it. */
const CLI_ENTRY = 'src/cli/main.ts';
/** The sidecar entry, made here: src/sidecar/main.ts exports main() without running it. */
const SIDECAR_ENTRY = "import { main } from './src/sidecar/main.ts';\nmain();\n";

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

const sidecarEntry = {
  name: 'sidecar-entry',
  setup(b) {
    b.onResolve({ filter: /^ndt:sidecar$/ }, () => ({ path: 'sidecar', namespace: 'ndt-entry' }));
    b.onLoad({ filter: /.*/, namespace: 'ndt-entry' }, () => ({ contents: SIDECAR_ENTRY, resolveDir: root, loader: 'ts' }));
  },
};

// Chunk names carry a hash: clear out the previous build's (priv/ holds only build output).
mkdirSync(new URL(`../${OUT}`, import.meta.url), { recursive: true });
for (const f of readdirSync(new URL(`../${OUT}`, import.meta.url), { withFileTypes: true })) {
  if (f.isFile() && /\.mjs(\.map)?$/.test(f.name)) rmSync(new URL(`../${OUT}/${f.name}`, import.meta.url));
}

await build({
  absWorkingDir: root,
  entryPoints: { sidecar: 'ndt:sidecar', 'nerves-docker': CLI_ENTRY, dockerode: 'src/engine/dockerode.ts' },
  outdir: OUT,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // CommonJS inside an ES module bundle needs a real require (node: built-ins, the stand-ins' loads).
  banner: { js: "import { createRequire as __ndtCreateRequire } from 'node:module'; const require = __ndtCreateRequire(import.meta.url); const __ndtRequire = require;" },
  plugins: [sidecarEntry, deferRarePaths],
  sourcemap: 'linked',
  logLevel: 'warning',
});
chmodSync(new URL(`../${OUT}/nerves-docker.mjs`, import.meta.url), 0o755);

// `npm run build`, after tsc: every process this package starts runs from an
// ES module bundle in priv/ (esbuild), so that a start reads and links a few
// files instead of about a hundred modules of ours, msgpackr's and
// dockerode's. Code split at the dynamic imports: the sidecar's hello and the
// CLI's usage do not wait for the runner.
//
//   priv/sidecar.mjs        the sidecar the Mix plugin starts (`node priv/sidecar.mjs`)
//   priv/nerves-docker.mjs  the CLI (package.json "bin")
//   priv/index.mjs          the library API (package.json "exports": an import
//                           of the package read 28 files, not ~110 modules:
//                           85-110 ms against 160-190 ms, engine client included)
//   priv/dockerode.mjs      the bundled engine client alone, for tests to probe
//   priv/chunk-*.mjs        what they share
//
// tsc's dist/ gives the library's types (its .d.ts files are what the package
// ships of it) and the modules the benches and tests import one by one.
//
// And the sidecar the Mix plugin ships, committed:
//
//   mix_plugin/priv/sidecar.mjs   its entry (what the Mix side starts), code
//   mix_plugin/priv/sidecar/*.mjs split like priv/ (the hello does not wait
//                                 for the runner: a start parses ~60 KB, not
//                                 the ~550 KB one file took, 92 -> ~78 ms),
//                                 no source maps, whitespace and syntax
//                                 minified (names kept for stack traces),
//                                 content-hashed chunk names, the version
//                                 built in: a git dependency (sparse or not)
//                                 or a Hex package of the plugin runs it with
//                                 Node alone.
//
// `node scripts/bundle.mjs --check-shipped` builds those files in memory and
// fails when the committed set (git's HEAD) differs: a file added, removed
// or changed. .ci/run, after make test.
//
// dockerode is bundled without what only rare paths need: its session.js
// (BuildKit sessions over gRPC, never used here), its buildkit.js
// (protobufjs) and docker-modem's ssh.js (ssh:// engines) become stand-ins
// that load the real module from node_modules on first use.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const OUT = 'priv';
/** The CLI's source: the one place that names it. */
const CLI_ENTRY = 'src/cli/main.ts';
/** The library API's source (priv/index.mjs, package.json "exports"). */
const LIBRARY_ENTRY = 'src/index.ts';
/** The sidecar entry, made here: src/sidecar/main.ts exports main() without running it. */
const SIDECAR_ENTRY = "import { main } from './src/sidecar/main.ts';\nmain();\n";

/** The sidecar the Mix plugin ships (see above): its entry, and the folder that holds its chunks (nothing else). */
const SHIPPED_SIDECAR = 'mix_plugin/priv/sidecar.mjs';
const SHIPPED_CHUNKS = 'mix_plugin/priv/sidecar';
const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** A CommonJS stand-in for `request` (resolved as the main module of package `from` would) that loads it on first use. */
function deferredModule(request, from, kind) {
  return `
const target = ${kind === 'function' ? 'function deferred() {}' : '{}'};
let real;
function load() {
  if (real === undefined) {
    const { createRequire } = __ndtRequire('node:module');
    let base;
    try {
      base = __ndtRequire.resolve(${JSON.stringify(from)});
    } catch {
      // The sidecar the Mix plugin ships has no node_modules next to it.
      throw new Error(${JSON.stringify(`${from}/${request} is not installed next to this bundle (ssh:// engines and BuildKit sessions need it): install the npm package (npm install -g nerves-docker-ts) and set NERVES_DOCKER_TS_SIDECAR="$(npm root -g)/nerves-docker-ts/priv/sidecar.mjs"`)});
    }
    real = createRequire(base)(${JSON.stringify(request)});
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

/** A stand-in for Node's built-in `name` that loads it on first use (a prototype lookup or a call through it). */
function deferredBuiltin(name) {
  return `
let real;
const load = () => (real ??= __ndtRequire(${JSON.stringify(`node:${name}`)}));
module.exports = new Proxy({}, {
  get: (_t, key) => Reflect.get(load(), key),
  has: (_t, key) => Reflect.has(load(), key),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_t, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), key);
    return d && { ...d, configurable: true };
  },
});`;
}

const deferRarePaths = {
  name: 'defer-rare-paths',
  setup(b) {
    // docker-modem's http.js requires https (and so tls: ~20 ms at start) for engines over TLS only.
    b.onResolve({ filter: /^https$/ }, (a) =>
      /[/\\]docker-modem[/\\]lib$/.test(a.resolveDir) ? { path: a.path, namespace: 'deferred-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'deferred-builtin' }, (a) => ({ contents: deferredBuiltin(a.path), loader: 'js' }));
    // dockerode's session.js (BuildKit sessions: gRPC) and buildkit.js (their progress: protobufjs) also
    // read files next to themselves: the stand-ins load the real ones, where they are.
    b.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (a) =>
      /[/\\]dockerode[/\\]lib$/.test(a.resolveDir)
        ? {
            path: `${a.path}.js`,
            namespace: 'deferred',
            pluginData: { from: 'dockerode', kind: a.path === './session' ? 'function' : 'object' },
          }
        : undefined,
    );
    b.onResolve({ filter: /^\.\/ssh$/ }, (a) =>
      /[/\\]docker-modem[/\\]lib$/.test(a.resolveDir)
        ? { path: './ssh.js', namespace: 'deferred', pluginData: { from: 'docker-modem', kind: 'function' } }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'deferred' }, (a) => ({
      contents: deferredModule(a.path, a.pluginData.from, a.pluginData.kind),
      loader: 'js',
    }));
  },
};

const sidecarEntry = {
  name: 'sidecar-entry',
  setup(b) {
    b.onResolve({ filter: /^ndt:sidecar$/ }, () => ({ path: 'sidecar', namespace: 'ndt-entry' }));
    b.onLoad({ filter: /.*/, namespace: 'ndt-entry' }, () => ({ contents: SIDECAR_ENTRY, resolveDir: root, loader: 'ts' }));
  },
};

/** What every bundle shares. */
const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Module paths as seen from the package root, symlinks not followed: they are written into the bundles
  // (dockerode's CommonJS modules are keyed by them), which must not depend on where node_modules really is
  // (a worktree's node_modules linked to another checkout's): --check-shipped compares bytes.
  preserveSymlinks: true,
  // CommonJS inside an ES module bundle needs a real require (node: built-ins, the stand-ins' loads).
  banner: {
    js: "import { createRequire as __ndtCreateRequire } from 'node:module'; const require = __ndtCreateRequire(import.meta.url); const __ndtRequire = require;",
  },
  // The version in the code (src/version.ts): the shipped sidecar has no package.json above it.
  define: { __NDT_VERSION__: JSON.stringify(VERSION) },
  plugins: [sidecarEntry, deferRarePaths],
  logLevel: 'warning',
};

/** The shipped sidecar's files, built in memory: a Map from the path (relative to the package root) to the bytes. */
async function shippedSidecar() {
  const out = await build({
    ...common,
    entryPoints: { sidecar: 'ndt:sidecar' },
    outdir: `${SHIPPED_SIDECAR}/..`,
    outExtension: { '.js': '.mjs' },
    chunkNames: `${SHIPPED_CHUNKS.slice(SHIPPED_SIDECAR.lastIndexOf('/') + 1)}/[name]-[hash]`,
    splitting: true,
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    write: false,
  });
  const files = new Map();
  for (const f of out.outputFiles) files.set(relative(root, f.path).split(sep).join('/'), Buffer.from(f.contents));
  const strays = [...files.keys()].filter((f) => f !== SHIPPED_SIDECAR && !f.startsWith(`${SHIPPED_CHUNKS}/`));
  if (strays.length > 0) throw new Error(`the shipped sidecar's build made files outside ${SHIPPED_CHUNKS}/: ${strays.join(', ')}`);
  return files;
}

/** The shipped sidecar's files as committed (git's HEAD), or on disk when this is not a git checkout: path -> bytes. */
function committedShipped() {
  const git = (args) => execFileSync('git', args, { cwd: root, maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  const files = new Map();
  try {
    git(['rev-parse', '--is-inside-work-tree']);
  } catch {
    const chunks = new URL(`../${SHIPPED_CHUNKS}/`, import.meta.url);
    const names = existsSync(chunks) ? readdirSync(chunks).map((n) => `${SHIPPED_CHUNKS}/${n}`) : [];
    for (const f of [SHIPPED_SIDECAR, ...names]) {
      const path = new URL(`../${f}`, import.meta.url);
      if (existsSync(path)) files.set(f, readFileSync(path));
    }
    return files;
  }
  const listed = git(['ls-tree', '-r', '--name-only', '--full-tree', 'HEAD', '--', SHIPPED_SIDECAR, `${SHIPPED_CHUNKS}/`]);
  for (const f of listed.toString('utf8').split('\n').filter(Boolean)) files.set(f, git(['show', `HEAD:${f}`]));
  return files;
}

/** What differs between the files the sources build and those committed, one line each ([] when nothing). */
function shippedDifferences(want, have) {
  const lines = [];
  for (const [f, bytes] of want) {
    if (!have.has(f)) lines.push(`${f}: not committed`);
    else if (Buffer.compare(bytes, have.get(f)) !== 0)
      lines.push(`${f}: committed ${have.get(f).length} bytes, the build makes ${bytes.length}`);
  }
  for (const f of have.keys()) if (!want.has(f)) lines.push(`${f}: committed, but the build no longer makes it`);
  return lines;
}

if (process.argv.includes('--check-shipped')) {
  // Against the committed bytes: `npm run build` (make test's setup) has just rewritten the files.
  const want = await shippedSidecar();
  const differences = shippedDifferences(want, committedShipped());
  if (differences.length > 0) {
    console.error(
      `The shipped sidecar as committed is not what the sources build:\n  ${differences.join('\n  ')}\n` +
        `Run \`npm run build\` and commit ${SHIPPED_SIDECAR} and ${SHIPPED_CHUNKS}/ (additions and removals too) with the sources.`,
    );
    process.exit(1);
  }
  const bytes = [...want.values()].reduce((n, b) => n + b.length, 0);
  console.log(`${SHIPPED_SIDECAR} and ${SHIPPED_CHUNKS}/: the ${want.size} committed files are what the sources build (${bytes} bytes)`);
  process.exit(0);
}

// Chunk names carry a hash: clear out the previous build's (priv/ holds only build output).
mkdirSync(new URL(`../${OUT}`, import.meta.url), { recursive: true });
for (const f of readdirSync(new URL(`../${OUT}`, import.meta.url), { withFileTypes: true })) {
  if (f.isFile() && /\.mjs(\.map)?$/.test(f.name)) rmSync(new URL(`../${OUT}/${f.name}`, import.meta.url));
}

await build({
  ...common,
  entryPoints: {
    sidecar: 'ndt:sidecar',
    'nerves-docker': CLI_ENTRY,
    index: LIBRARY_ENTRY,
    dockerode: 'src/engine/dockerode.ts',
  },
  outdir: OUT,
  outExtension: { '.js': '.mjs' },
  splitting: true,
  sourcemap: 'linked',
});
chmodSync(new URL(`../${OUT}/nerves-docker.mjs`, import.meta.url), 0o755);
// The shipped sidecar: the previous build's chunks go (their names carry a hash; the folder holds only them).
const shipped = await shippedSidecar();
rmSync(new URL(`../${SHIPPED_CHUNKS}`, import.meta.url), { recursive: true, force: true });
mkdirSync(new URL(`../${SHIPPED_CHUNKS}`, import.meta.url), { recursive: true });
for (const [f, bytes] of shipped) writeFileSync(new URL(`../${f}`, import.meta.url), bytes);

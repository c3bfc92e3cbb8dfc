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
// And the sidecar the Mix plugin ships, in ONE file, committed:
//
//   mix_plugin/priv/sidecar.mjs   no chunks, no source map, whitespace and
//                                 syntax minified (names kept for stack
//                                 traces), the version built in: a git
//                                 dependency (sparse or not) or a Hex package
//                                 of the plugin runs it with Node alone.
//
// `node scripts/bundle.mjs --check-shipped` builds that file in memory and
// fails when the committed one (git's HEAD) differs: .ci/run, after make test.
//
// dockerode is bundled without what only rare paths need: its session.js
// (BuildKit sessions over gRPC, never used here), its buildkit.js
// (protobufjs) and docker-modem's ssh.js (ssh:// engines) become stand-ins
// that load the real module from node_modules on first use.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const OUT = 'priv';
/** The CLI's source: the one place that names it. */
const CLI_ENTRY = 'src/cli/main.ts';
/** The sidecar entry, made here: src/sidecar/main.ts exports main() without running it. */
const SIDECAR_ENTRY = "import { main } from './src/sidecar/main.ts';\nmain();\n";

/** The sidecar the Mix plugin ships (see above). */
const SHIPPED_SIDECAR = 'mix_plugin/priv/sidecar.mjs';
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

const deferRarePaths = {
  name: 'defer-rare-paths',
  setup(b) {
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
  // CommonJS inside an ES module bundle needs a real require (node: built-ins, the stand-ins' loads).
  banner: {
    js: "import { createRequire as __ndtCreateRequire } from 'node:module'; const require = __ndtCreateRequire(import.meta.url); const __ndtRequire = require;",
  },
  // The version in the code (src/version.ts): the shipped sidecar has no package.json above it.
  define: { __NDT_VERSION__: JSON.stringify(VERSION) },
  plugins: [sidecarEntry, deferRarePaths],
  logLevel: 'warning',
};

/** The shipped sidecar's bytes, built in memory. */
async function shippedSidecar() {
  const out = await build({
    ...common,
    entryPoints: ['ndt:sidecar'],
    outfile: SHIPPED_SIDECAR,
    splitting: false,
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    write: false,
  });
  return out.outputFiles[0].contents;
}

/** The committed shipped sidecar (git's HEAD), or the file when this is not a git checkout. */
function committedShipped() {
  const git = (args) => execFileSync('git', args, { cwd: root, maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    git(['rev-parse', '--is-inside-work-tree']);
  } catch {
    const path = new URL(`../${SHIPPED_SIDECAR}`, import.meta.url);
    return existsSync(path) ? readFileSync(path) : null;
  }
  try {
    return git(['show', `HEAD:${SHIPPED_SIDECAR}`]);
  } catch {
    return null;
  }
}

if (process.argv.includes('--check-shipped')) {
  // Against the committed bytes: `npm run build` (make test's setup) has just rewritten the file.
  const want = Buffer.from(await shippedSidecar());
  const have = committedShipped();
  if (!have || Buffer.compare(want, have) !== 0) {
    console.error(
      `${SHIPPED_SIDECAR} as committed is not what the sources build (${have ? `${have.length} bytes, the build makes ${want.length}` : 'not committed'}). ` +
        'Run `npm run build` and commit it with the sources.',
    );
    process.exit(1);
  }
  console.log(`${SHIPPED_SIDECAR}: the committed file is what the sources build (${want.length} bytes)`);
  process.exit(0);
}

// Chunk names carry a hash: clear out the previous build's (priv/ holds only build output).
mkdirSync(new URL(`../${OUT}`, import.meta.url), { recursive: true });
for (const f of readdirSync(new URL(`../${OUT}`, import.meta.url), { withFileTypes: true })) {
  if (f.isFile() && /\.mjs(\.map)?$/.test(f.name)) rmSync(new URL(`../${OUT}/${f.name}`, import.meta.url));
}

await build({
  ...common,
  entryPoints: { sidecar: 'ndt:sidecar', 'nerves-docker': CLI_ENTRY, dockerode: 'src/engine/dockerode.ts' },
  outdir: OUT,
  outExtension: { '.js': '.mjs' },
  splitting: true,
  sourcemap: 'linked',
});
chmodSync(new URL(`../${OUT}/nerves-docker.mjs`, import.meta.url), 0o755);
mkdirSync(new URL(`../${SHIPPED_SIDECAR}/..`, import.meta.url), { recursive: true });
writeFileSync(new URL(`../${SHIPPED_SIDECAR}`, import.meta.url), await shippedSidecar());

// dockerode as tsc's dist/ (the library API) loads it, without what only rare
// paths need until they are used: its session.js (gRPC, for BuildKit
// sessions, never used here) and docker-modem's ssh.js (ssh2, for ssh://
// engines). Stand-ins in Node's module cache load the real ones on first use,
// as the esbuild bundles' do (scripts/bundle.mjs; there this does nothing).
// A start that talks to a local engine loads ~40 ms of modules, not ~190.
// Imported by dockerode.ts before dockerode itself.
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Set by the esbuild bundles, which defer these modules themselves. */
declare const __NDT_VERSION__: string | undefined;

type Loader = (path: string) => unknown;

/** A stand-in for the CommonJS module at `path` that loads the real one when it is first touched. */
function defer(cache: Record<string, Module | undefined>, load: Loader, path: string, kind: 'function' | 'object'): void {
  if (cache[path] !== undefined) return;
  let real: object | undefined;
  const target = () => {
    if (real === undefined) {
      delete cache[path];
      real = load(path) as object;
    }
    return real;
  };
  const m = new Module(path);
  m.filename = path;
  m.loaded = true;
  m.exports = new Proxy(kind === 'function' ? function deferred() {} : {}, {
    get: (_t, key) => Reflect.get(target(), key),
    has: (_t, key) => Reflect.has(target(), key),
    apply: (_t, self, args) => Reflect.apply(target() as (...a: unknown[]) => unknown, self, args),
    construct: (_t, args) => Reflect.construct(target() as new (...a: unknown[]) => object, args),
  });
  cache[path] = m;
}

if (typeof __NDT_VERSION__ !== 'string') {
  try {
    const req = createRequire(import.meta.url);
    const dockerode = req.resolve('dockerode');
    const modem = createRequire(dockerode).resolve('docker-modem');
    defer(req.cache, req, join(dirname(dockerode), 'session.js'), 'function');
    defer(req.cache, req, join(dirname(modem), 'ssh.js'), 'function');
  } catch {
    // laid out otherwise: dockerode loads as it is
  }
}

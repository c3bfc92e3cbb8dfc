// dockerode, loaded without the dependencies only rare paths need. Its
// session.js requires @grpc/grpc-js and @grpc/proto-loader (BuildKit
// sessions, never used here) and docker-modem's ssh.js requires ssh2 (ssh://
// engines only): together about two thirds of dockerode's import time, paid
// by every sidecar and CLI start. Before dockerode loads, require.cache gets
// stand-ins for those modules that load the real one on first use, so
// behaviour is unchanged and only the cost moves to where it is needed.
import Module, { createRequire } from 'node:module';
import type DockerT from 'dockerode';

const require = createRequire(import.meta.url);

type Loader = () => unknown;

/** A module whose exports load the real module on first use (property access, or a call for function exports). */
function defer(path: string, kind: 'object' | 'function'): void {
  if (require.cache[path]) return; // already loaded for real: nothing to save
  let real: unknown;
  const load: Loader = () => {
    if (real === undefined) {
      delete require.cache[path];
      real = require(path);
    }
    return real;
  };
  const target = kind === 'function' ? function deferred() {} : {};
  const exports = new Proxy(target, {
    get: (_t, key) => Reflect.get(load() as object, key),
    has: (_t, key) => Reflect.has(load() as object, key),
    apply: (_t, self, args) => Reflect.apply(load() as (...a: unknown[]) => unknown, self, args),
    construct: (_t, args) => Reflect.construct(load() as new (...a: unknown[]) => object, args),
  });
  const stub = new Module(path);
  Object.assign(stub, { filename: path, loaded: true, exports });
  require.cache[path] = stub;
}

/** Resolves `request` as `from` would see it; undefined when the layout differs (then nothing is deferred). */
function resolveFrom(from: string, request: string): string | undefined {
  try {
    return createRequire(from).resolve(request);
  } catch {
    return undefined;
  }
}

function loadDockerode(): typeof DockerT {
  const main = require.resolve('dockerode');
  const session = resolveFrom(main, './session.js');
  if (session) {
    for (const dep of ['@grpc/grpc-js', '@grpc/proto-loader']) {
      const p = resolveFrom(session, dep);
      if (p) defer(p, 'object');
    }
  }
  const modem = resolveFrom(main, 'docker-modem');
  const ssh = modem && resolveFrom(modem, './ssh.js');
  if (ssh) defer(ssh, 'function');
  return require('dockerode') as typeof DockerT;
}

const Docker = loadDockerode();
type Docker = DockerT;
export default Docker;

// src/engine/dockerode.ts: dockerode loads without gRPC and ssh2, and those
// load for real the moment something uses them; the same for the sidecar
// bundle (scripts/bundle-sidecar.mjs), which does it its own way. Run in a
// fresh Node process (the require cache is per process) on the built dist/.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/engine/dockerode.js', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../../dist/bundle/dockerode.mjs', import.meta.url));

function probe(script: string, entry = DIST): Record<string, unknown> {
  const code = `
    import { createRequire } from 'node:module';
    const { default: Docker } = await import(${JSON.stringify(entry)});
    const req = createRequire(${JSON.stringify(DIST)});
    const real = (part) => Object.keys(req.cache).some((k) => k.includes(part));
    const out = {};
    ${script}
    console.log(JSON.stringify(out));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 }));
}

describe.each([
  ['tsc\'s modules', DIST],
  ['the sidecar bundle', BUNDLE],
])('dockerode with deferred dependencies, from %s', (_from, entry) => {
  it('does not load gRPC, protobufjs or ssh2 at import', () => {
    const out = probe(`
      out.grpc = real('@grpc/grpc-js/build/src/channel.js');
      out.protobuf = real('/protobufjs/');
      out.ssh2 = real('/ssh2/lib/client.js');
      out.client = typeof new Docker({ socketPath: '/nonexistent.sock' }).ping;`, entry);
    expect(out).toEqual({ grpc: false, protobuf: false, ssh2: false, client: 'function' });
  });

  it('loads ssh2 when an ssh:// engine is used', () => {
    const out = probe(`
      const d = new Docker({ protocol: 'ssh', host: '127.0.0.1', port: 1, username: 'nobody' });
      out.error = await d.ping().then(() => 'none', (e) => e.code ?? e.message);
      out.ssh2 = real('/ssh2/lib/client.js');`, entry);
    expect(out).toEqual({ error: 'ECONNREFUSED', ssh2: true });
  });

  it('loads protobufjs for real on first use (BuildKit progress), and runs a BuildKit session', () => {
    const out = probe(`
      const { Readable } = await import('node:stream');
      const d = new Docker({ socketPath: '/nonexistent.sock' });
      const trace = JSON.stringify({ id: 'moby.buildkit.trace', aux: '' }) + '\\n';
      out.progress = await new Promise((res) => d.followProgress(Readable.from([trace]), (err) => res(err ? String(err) : 'ok')));
      out.protobuf = real('/protobufjs/');
      out.session = await d.buildImage(Readable.from([]), { version: '2' }).then(() => 'none', (e) => e.code ?? e.message);`, entry);
    expect(out).toEqual({ progress: 'ok', protobuf: true, session: 'ENOENT' });
  });
});

describe('dockerode with deferred dependencies, from tsc\'s modules', () => {
  it('hands out the real gRPC module on first use', () => {
    const out = probe(`
      const session = createRequire(req.resolve('dockerode'));
      const grpc = createRequire(session.resolve('./session.js'))('@grpc/grpc-js');
      out.fn = typeof grpc.credentials.createInsecure;
      out.grpc = real('@grpc/grpc-js/build/src/channel.js');`);
    expect(out).toEqual({ fn: 'function', grpc: true });
  });
});

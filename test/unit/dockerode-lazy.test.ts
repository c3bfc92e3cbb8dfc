// The bundle (scripts/bundle.mjs), from which every process of this package
// starts, and tsc's dist/ (the library API, src/engine/defer-rare.ts):
// dockerode loads without gRPC, protobufjs and ssh2, and those load for real
// the moment something uses them. Run in a fresh Node process (the require
// cache is per process) on the built priv/ and dist/ (`npm run build`).
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../src/protocol/codec.js';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js';

const PRIV = new URL('../../priv/', import.meta.url);
const BUNDLE = fileURLToPath(new URL('dockerode.mjs', PRIV));
const DIST = fileURLToPath(new URL('../../dist/engine/dockerode.js', import.meta.url));

function probe(script: string, entry = BUNDLE): Record<string, unknown> {
  const code = `
    import { createRequire } from 'node:module';
    const { default: Docker } = await import(${JSON.stringify(entry)});
    const req = createRequire(${JSON.stringify(BUNDLE)});
    const real = (part) => Object.keys(req.cache).some((k) => k.includes(part));
    const out = {};
    ${script}
    console.log(JSON.stringify(out));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 }));
}

describe.each([
  ['the bundle', BUNDLE],
  ["tsc's dist/", DIST],
])('dockerode with deferred dependencies, from %s', (_from, entry) => {
  it('does not load gRPC, protobufjs or ssh2 at import', () => {
    const out = probe(
      `
      out.grpc = real('@grpc/grpc-js/build/src/channel.js');
      out.protobuf = real('/protobufjs/');
      out.ssh2 = real('/ssh2/lib/client.js');
      out.client = typeof new Docker({ socketPath: '/nonexistent.sock' }).ping;`,
      entry,
    );
    expect(out).toEqual({ grpc: false, protobuf: false, ssh2: false, client: 'function' });
  });

  it('loads ssh2 when an ssh:// engine is used', () => {
    const out = probe(
      `
      const d = new Docker({ protocol: 'ssh', host: '127.0.0.1', port: 1, username: 'nobody' });
      out.error = await d.ping().then(() => 'none', (e) => e.code ?? e.message);
      out.ssh2 = real('/ssh2/lib/client.js');`,
      entry,
    );
    expect(out).toEqual({ error: 'ECONNREFUSED', ssh2: true });
  });

  it('loads protobufjs for real on first use (BuildKit progress), and runs a BuildKit session', () => {
    const out = probe(
      `
      const { Readable } = await import('node:stream');
      const d = new Docker({ socketPath: '/nonexistent.sock' });
      const trace = JSON.stringify({ id: 'moby.buildkit.trace', aux: '' }) + '\\n';
      out.progress = await new Promise((res) => d.followProgress(Readable.from([trace]), (err) => res(err ? String(err) : 'ok')));
      out.protobuf = real('/protobufjs/');
      out.session = await d.buildImage(Readable.from([]), { version: '2' }).then(() => 'none', (e) => e.code ?? e.message);
      out.grpc = real('@grpc/grpc-js/build/src/channel.js');`,
      entry,
    );
    expect(out).toEqual({ progress: 'ok', protobuf: true, session: 'ENOENT', grpc: true });
  });
});

describe('process starts from the bundle', () => {
  const DEFERRED = ['/@grpc/', '/protobufjs/', '/ssh2/'];

  it('bundles none of gRPC, protobufjs or ssh2 (they stay in node_modules, loaded on first use)', () => {
    const sources = readdirSync(PRIV)
      .filter((f) => f.endsWith('.mjs.map'))
      .flatMap((f) => (JSON.parse(readFileSync(new URL(f, PRIV), 'utf8')) as { sources: string[] }).sources);
    expect(sources.some((s) => s.includes('/dockerode/lib/docker.js'))).toBe(true);
    expect(sources.filter((s) => DEFERRED.some((d) => s.includes(d)))).toEqual([]);
  });

  it('the sidecar (after its engine warm-up) and the CLI run without loading them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ndt-lazy-'));
    try {
      // Preloaded: says, when the process exits, which of them it loaded.
      const preload = join(dir, 'report.cjs');
      writeFileSync(
        preload,
        `process.on('exit', () => { const k = Object.keys(require.cache); process.stderr.write('LOADED ' + JSON.stringify(${JSON.stringify(DEFERRED)}.filter((p) => k.some((f) => f.includes(p))))); });`,
      );
      const run = (entry: string, argv: string[], holdMs: number) =>
        new Promise<string>((resolve) => {
          const child = spawn(process.execPath, ['--require', preload, fileURLToPath(new URL(entry, PRIV)), ...argv], {
            stdio: ['pipe', 'pipe', 'pipe'],
          });
          let err = '';
          child.stderr.on('data', (c: Buffer) => (err += c.toString()));
          child.stdout.once('data', () => setTimeout(() => child.stdin.end(), holdMs));
          child.on('close', () => resolve(err));
        });
      expect(await run('sidecar.mjs', [], 1000)).toMatch(/LOADED \[\]$/);
      // The sidecar the Mix plugin ships (minified, its own chunks).
      expect(await run('../mix_plugin/priv/sidecar.mjs', [], 1000)).toMatch(/LOADED \[\]$/);
      expect(await run('nerves-docker.mjs', ['doctor', '--help'], 0)).toMatch(/LOADED \[\]$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the sidecar the Mix plugin ships runs with Node alone, and a deferred module says what to do', async () => {
    // A copy of the plugin's priv/ (entry and chunks) where no node_modules is above it.
    const dir = mkdtempSync(join(tmpdir(), 'ndt-alone-'));
    try {
      cpSync(fileURLToPath(new URL('../../mix_plugin/priv/', import.meta.url)), join(dir, 'priv'), { recursive: true });
      // docker-modem's built-in ssh client (ssh.js) is one of the modules left out of the bundle.
      const env = { ...process.env, DOCKER_HOST: 'ssh://nobody@127.0.0.1:1', NERVES_DOCKER_TS_SSH: 'builtin', NODE_PATH: '' };
      const child = spawn(process.execPath, [join(dir, 'priv/sidecar.mjs')], { env, stdio: ['pipe', 'pipe', 'ignore'] });
      const frames = new FrameDecoder();
      const messages: Record<string, unknown>[] = [];
      const answered = new Promise<void>((resolve) => {
        child.stdout.on('data', (c: Buffer) => {
          for (const body of frames.push(c)) messages.push(decodeMessage(body) as Record<string, unknown>);
          if (messages.some((m) => m.id === 1)) resolve();
        });
        child.on('close', () => resolve());
      });
      child.stdin.write(encodeFrame(encodeMessage({ id: 1, op: 'engine_info', args: {} })));
      await answered;
      child.stdin.end();
      expect(messages[0]).toMatchObject({ hello: { protocol: 1, loaded_from: 'bundle' } });
      const error = (messages.find((m) => m.id === 1) as { error?: { message: string } } | undefined)?.error;
      expect(error?.message).toContain('docker-modem/./ssh.js is not installed next to this bundle');
      expect(error?.message).toContain('NERVES_DOCKER_TS_SIDECAR=');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The runner's ways out, as a user meets them through the bundled CLI
// (node priv/nerves-docker.mjs) and the sidecar, against the real engine: a
// signal during the artifact's local copy (the FIFO runner's drop), an engine
// that accepts connections and never answers, an archive with nothing built,
// and what a killed build leaves in the build path.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../src/engine/labels.js';
import { encodeMessage } from '../../src/protocol/codec.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { docker, ROOT, useExample } from './helpers/example.js';
import { startSidecar } from './helpers/sidecar-proc.js';

const CLI = join(ROOT, 'priv/nerves-docker.mjs');

interface Run {
  pid: number;
  stderr: () => string;
  stdout: () => string;
  /** Resolves once stdout or stderr matches `re` (rejects after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn('node', [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    wake();
  });
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString();
    wake();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal, at: Date.now() })),
  );
  return {
    pid: child.pid!,
    stderr: () => err,
    stdout: () => out,
    exit,
    waitFor: (re, ms = 120_000) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${re} in ${ms} ms: ${out}${err}`)), ms);
        const check = () => {
          if (re.test(out) || re.test(err)) {
            clearTimeout(t);
            resolve();
          } else waiters.push(check);
        };
        check();
      }),
  };
}

describe('the runner through its CLI', () => {
  const fx = useExample('ndt-edges-');
  let specFile = '';
  let dest = '';
  beforeAll(() => {
    specFile = join(fx.ex.dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(fx.ex.spec()));
    dest = join(fx.ex.dl, 'example_system-portable-0.1.0-ABCDEF1.tar.gz');
  });
  const dlLeft = () => (existsSync(fx.ex.dl) ? readdirSync(fx.ex.dl) : []);

  it('archive with nothing built: says to build it first, runs no make and creates no volume (CLI and sidecar)', async () => {
    const r = run(['archive', '--spec', specFile]);
    const { code } = await r.exit;
    expect(r.stderr()).not.toContain('No rule to make target');
    expect(r.stderr()).toMatch(/nothing has been built for example_system yet: its build volume example_system-\S+ does not exist/);
    expect(r.stderr()).toMatch(/Build it first/);
    expect(code).toBe(1);
    const p = startSidecar();
    await p.waitFor((m) => 'hello' in m);
    p.child.stdin.write(encodeFrame(encodeMessage({ id: 1, op: 'archive', args: fx.ex.spec() })));
    const reply = await p.waitFor((m) => m.id === 1 && ('ok' in m || 'error' in m), 60_000);
    p.child.stdin.end();
    await p.exit;
    expect(reply.error).toMatchObject({ code: 'artifact_missing', message: expect.stringContaining('nothing has been built') });
    const mine = ((await docker.listVolumes()).Volumes ?? []).filter((v) => v.Labels?.[LABEL.buildPath]?.startsWith(`${fx.ex.dir}/`));
    expect(mine.map((v) => v.Name)).toEqual([]);
  }, 120_000);

  it("a signal during the artifact's local copy (FIFO steps, the drop) stops it: 130, nothing renamed into place", async () => {
    const built = run(['build', '--spec', specFile, '--yes', '--make-arg', 'ARTIFACT_MB=300']);
    expect((await built.exit).code).toBe(0);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      rmSync(dest, { force: true });
      const r = run(['archive', '--spec', specFile]);
      await r.waitFor(/Copying artifact/);
      await copyUnderWay();
      const sentAt = Date.now();
      process.kill(r.pid, sig);
      const { code, at } = await r.exit;
      expect({ sig, code, stdout: r.stdout() }).toEqual({ sig, code: 130, stdout: '' });
      expect(r.stderr()).toContain("the artifact's copy from the build container was interrupted; nothing was written under its name");
      expect(at - sentAt).toBeLessThan(5000);
      expect(dlLeft()).toEqual([]); // neither the artifact nor a partial copy
    }
    // Under Mix: the VM's end closes the sidecar's stdin.
    const p = startSidecar();
    await p.waitFor((m) => 'hello' in m);
    p.child.stdin.write(encodeFrame(encodeMessage({ id: 1, op: 'archive', args: fx.ex.spec() })));
    await p.waitFor((m) => m.id === 1 && m.event === 'header' && String(m.data).includes('Copying artifact'), 120_000);
    await copyUnderWay();
    p.child.stdin.end();
    expect(await p.exit).toBe(0);
    expect(dlLeft()).toEqual([]);
  }, 300_000);

  /** Waits until the artifact's copy has written some of its temporary file. */
  async function copyUnderWay(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const partial = dlLeft().find((n) => n.includes('.partial-'));
      if (partial && statSync(join(fx.ex.dl, partial), { throwIfNoEntry: false })?.size) return;
      if (Date.now() > deadline) throw new Error(`no partial copy in ${fx.ex.dl}: ${dlLeft().join(', ')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
});

/** A loopback server that accepts connections and never answers. */
function silentServer(): Promise<{ port: number; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as { port: number }).port,
        sockets,
        close: () => {
          for (const s of sockets) s.destroy();
          return new Promise((r) => server.close(() => r()));
        },
      }),
    ),
  );
}

describe('an engine that accepts connections and never answers', () => {
  const fx = useExample('ndt-silent-');
  let silent: Awaited<ReturnType<typeof silentServer>>;
  let specFile = '';
  beforeAll(async () => {
    silent = await silentServer();
    specFile = join(fx.ex.dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(fx.ex.spec()));
  });
  afterAll(async () => silent?.close());

  for (const [cmd, within] of [
    ['build', 10_000],
    ['doctor', 5000],
  ] as const) {
    it(`${cmd} exits right after its message (the request and its socket destroyed)`, async () => {
      const t0 = Date.now();
      const r = run([cmd, '--spec', specFile], { DOCKER_HOST: `tcp://127.0.0.1:${silent.port}` });
      await r.waitFor(new RegExp(`no answer within ${within} ms`), 60_000);
      const said = Date.now();
      const { code, at } = await r.exit;
      expect(code).not.toBe(0);
      expect(said - t0).toBeLessThan(within + 4000);
      expect(at - said).toBeLessThan(2000);
    }, 90_000);
  }

  it('through the sidecar: the error comes after the one wait it names, not two', async () => {
    const p = startSidecar(undefined, { env: { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${silent.port}` } });
    await p.waitFor((m) => 'hello' in m);
    const t0 = Date.now();
    p.child.stdin.write(encodeFrame(encodeMessage({ id: 1, op: 'build', args: fx.ex.spec() })));
    const reply = await p.waitFor((m) => m.id === 1 && 'error' in m, 60_000);
    const waited = Date.now() - t0;
    const message = (reply.error as { message: string }).message;
    const said = Number(/no answer within (\d+) ms/.exec(message)?.[1]);
    expect(said).toBeGreaterThan(0);
    expect(waited).toBeLessThan(said + 3000);
    p.child.stdin.end();
    await p.exit;
  }, 90_000);
});

describe('what a killed build leaves in the build path', () => {
  const fx = useExample('ndt-killed-');
  let specFile = '';
  let buildPath = '';
  beforeAll(() => {
    specFile = join(fx.ex.dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(fx.ex.spec()));
    buildPath = String(fx.ex.spec().build_path);
    mkdirSync(buildPath, { recursive: true });
  });
  const runnerFiles = () => readdirSync(buildPath).filter((n) => n.startsWith('.ndt-'));

  async function killedBuild(): Promise<void> {
    const r = run(['build', '--spec', specFile, '--yes', '--make-arg', 'SLEEP=60']);
    await r.waitFor(/Sleeping 60 s/);
    process.kill(r.pid, 'SIGKILL');
    await r.exit;
  }

  it("the next build removes a killed run's token and FIFO dir; clean removes the runner's files", async () => {
    await killedBuild();
    expect(runnerFiles().filter((n) => n.startsWith('.ndt-visible-'))).toHaveLength(1);
    await killedBuild(); // its build removed the first one's
    expect(runnerFiles().filter((n) => n.startsWith('.ndt-visible-'))).toHaveLength(1);
    expect(runnerFiles().filter((n) => n.startsWith('.ndt-output-'))).toHaveLength(1);
    mkdirSync(join(buildPath, '.ndt-inputs', 'example_system-x-package'), { recursive: true }); // as a copy build's record
    const c = run(['clean', '--spec', specFile]);
    expect((await c.exit).code).toBe(0);
    expect(runnerFiles()).toEqual([]);
  }, 300_000);
});

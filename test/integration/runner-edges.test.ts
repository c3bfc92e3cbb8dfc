// The runner's ways out, as a user meets them through the bundled CLI
// (node priv/nerves-docker.mjs) and the sidecar, against the real engine: a
// signal during the artifact's local copy (the FIFO runner's drop).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/protocol/codec.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { ROOT, useExample } from './helpers/example.js';
import { startSidecar } from './helpers/sidecar-proc.js';

const CLI = join(ROOT, 'priv/nerves-docker.mjs');

interface Run {
  pid: number;
  stderr: () => string;
  stdout: () => string;
  /** Resolves once stderr matches `re` (rejects after `ms`). */
  waitErr(re: RegExp, ms?: number): Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn('node', [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString();
    for (const w of waiters.splice(0)) w();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal, at: Date.now() })),
  );
  return {
    pid: child.pid!,
    stderr: () => err,
    stdout: () => out,
    exit,
    waitErr: (re, ms = 120_000) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${re} on stderr in ${ms} ms: ${err}`)), ms);
        const check = () => {
          if (re.test(err)) {
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

  it("a signal during the artifact's local copy (FIFO steps, the drop) stops it: 130, nothing renamed into place", async () => {
    const built = run(['build', '--spec', specFile, '--yes', '--make-arg', 'ARTIFACT_MB=300']);
    expect((await built.exit).code).toBe(0);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      rmSync(dest, { force: true });
      const r = run(['archive', '--spec', specFile]);
      await r.waitErr(/Copying artifact/);
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

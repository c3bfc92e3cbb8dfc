// Step output through the FIFO (src/runner/step-output.ts) against the real
// engine: bytes and their order arrive exactly, the exit status comes back,
// a process the step leaves behind does not hold the step up, and a FIFO the
// step cannot open is an error that names the way out. The choice of path is
// checked in test/unit/step-output.test.ts; builds through both paths in
// runner.test.ts and hostile.test.ts.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, chmodSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEngine } from '../../src/engine/connect.js';
import { managedLabels, removeContainer, startJobContainer, type JobContainer } from '../../src/engine/containers.js';
import { BuildLog } from '../../src/runner/build-log.js';
import { FifoOutput } from '../../src/runner/step-output.js';
import { withArtifactDrop } from '../../src/runner/job.js';
import { takeDroppedArtifact } from '../../src/runner/artifact.js';
import { NEW_TAG, noContainersSoon, requireEngine } from './helpers/example.js';
import { LABEL } from '../../src/engine/labels.js';

describe('step output through a FIFO (real engine)', () => {
  const engine = openEngine();
  const job = `step-output-${process.pid}`;
  let dir = '';
  let fifo: FifoOutput;
  let box: JobContainer;

  /** A container of the example image with the FIFO dir mounted; PID 1 the keeper, or `entrypoint`. */
  const startBox = (entrypoint?: string[]) =>
    startJobContainer(engine, { image: NEW_TAG, labels: managedLabels({ [LABEL.job]: job }), env: [], mounts: [fifo.mount], workingDir: '/', keep: false, entrypoint });

  beforeAll(async () => {
    await requireEngine();
    dir = mkdtempSync(join(tmpdir(), 'ndt-fifo-'));
    fifo = await FifoOutput.create(dir);
    box = await startBox();
  });

  afterAll(async () => {
    box?.release();
    if (box) await removeContainer(engine, box.id).catch(() => {});
    expect(await noContainersSoon({ [LABEL.job]: job })).toEqual([]);
    await fifo?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  async function step(cmd: string[], user?: string): Promise<{ status: number; bytes: Buffer; warnings: string[] }> {
    const path = join(dir, `log-${Math.random().toString(36).slice(2)}`);
    const log = await BuildLog.create(path, () => {});
    const sink = log.sink();
    const warnings: string[] = [];
    try {
      const status = await fifo.run(box.container, { cmd, user }, sink, (t) => warnings.push(t));
      await new Promise((r) => sink.end(r));
      return { status, bytes: readFileSync(path), warnings };
    } finally {
      sink.end();
      await log.close();
    }
  }

  it('stdout and stderr arrive byte for byte, in the order written, with the exit status', async () => {
    const r = await step(['/bin/sh', '-c', "printf 'one\\n'; printf 'two\\n' >&2; printf 'three\\000\\377\\n'; exit 7"]);
    expect(r.status).toBe(7);
    expect(r.bytes).toEqual(Buffer.from('one\ntwo\nthree\0\xff\n', 'latin1'));
    expect(r.warnings).toEqual([]);
  });

  it('step after step, and an empty step is fine', async () => {
    expect((await step(['true'])).bytes.length).toBe(0);
    const r = await step(['/bin/sh', '-c', 'head -c 3000000 /dev/zero']);
    expect(r.status).toBe(0);
    expect(r.bytes.equals(Buffer.alloc(3_000_000))).toBe(true);
  });

  it('a background process that keeps the output open does not hold the step up', async () => {
    const t0 = Date.now();
    const r = await step(['/bin/sh', '-c', 'sleep 20 & printf done']);
    const seconds = (Date.now() - t0) / 1000;
    expect(r.status).toBe(0);
    expect(r.bytes.toString()).toBe('done');
    expect(seconds).toBeLessThan(15);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/still holds its output open/);
    // The next step has a FIFO of its own: the sleeper neither delays it nor writes into it.
    const t1 = Date.now();
    const next = await step(['/bin/sh', '-c', 'printf next']);
    expect(next.bytes.toString()).toBe('next');
    expect(next.warnings).toEqual([]);
    expect(Date.now() - t1).toBeLessThan(1500);
  });

  it('make system leaves the artifact in the drop dir (as any uid); the runner copies it into place as its own file', async () => {
    const drop = fifo.dropPath('art.tar.gz');
    const make = ['/bin/sh', '-c', "printf 'artifact bytes' >/tmp/art.tar.gz; printf built"];
    const r = await step(withArtifactDrop(make, '/tmp/art.tar.gz', drop.inContainer), '65534:65534');
    expect(r.status).toBe(0);
    expect(r.bytes.toString()).toBe('built');
    expect(statSync(drop.onHost).uid).toBe(65534);
    const dest = join(dir, 'dl', 'art.tar.gz');
    expect(await takeDroppedArtifact(drop.onHost, dest)).toBe(14);
    expect(readFileSync(dest, 'utf8')).toBe('artifact bytes');
    expect(statSync(dest).uid).toBe(process.getuid!());
    expect(existsSync(drop.onHost)).toBe(false);
    expect(readdirSync(join(dir, 'dl'))).toEqual(['art.tar.gz']);
  });

  it('a failed make system keeps its status and drops nothing; a failed copy is not a failure', async () => {
    const drop = fifo.dropPath('art2.tar.gz');
    const failing = await step(withArtifactDrop(['/bin/sh', '-c', 'printf made >/tmp/a2; exit 3'], '/tmp/a2', drop.inContainer));
    expect(failing.status).toBe(3);
    expect(existsSync(drop.onHost)).toBe(false);
    const unreadable = await step(withArtifactDrop(['true'], '/nonexistent/artifact', drop.inContainer));
    expect(unreadable.status).toBe(0);
    expect(unreadable.bytes.toString()).toBe('');
    expect(existsSync(drop.onHost)).toBe(false);
    expect(await takeDroppedArtifact(drop.onHost, join(dir, 'dl', 'x'))).toBeNull();
  });

  /** A prepared sequence as the PID 1 of a container of its own (as a build runs it). */
  async function sequence(cmds: string[][]) {
    const path = join(dir, `seq-${Math.random().toString(36).slice(2)}`);
    const log = await BuildLog.create(path, () => {});
    let sink = log.sink();
    const started: number[] = [];
    const warnings: string[] = [];
    const end = () => new Promise<void>((res) => sink.end(res));
    const prepared = await fifo.prepareSequence(cmds.map((cmd) => ({ cmd })));
    let seqBox: JobContainer | null = null;
    try {
      seqBox = await startBox(prepared.entrypoint);
      const r = await prepared.run(
        {
          start: (i) => {
            started.push(i);
            sink = log.sink();
            return sink;
          },
          end,
          warn: (t) => warnings.push(t),
        },
        seqBox.ended,
      );
      await end();
      return { ...r, started, warnings, bytes: readFileSync(path), box: seqBox };
    } finally {
      prepared.dispose();
      seqBox?.release();
      if (seqBox) await removeContainer(engine, seqBox.id).catch(() => {});
      await log.close();
    }
  }

  it('a sequence runs its steps as the container\'s own work (no exec), each with its output in order and its status; argv is passed literally', async () => {
    const marker = `/tmp/ndt-pwned-${process.pid}`;
    const weird = `a b $(touch ${marker}) \`touch ${marker}\` "q" 'x' ; | & \\ \n`;
    const many = Array.from({ length: 12 }, (_, k) => `arg${k + 1}`);
    const r = await sequence([
      ['printf', '%s|', weird, ...many],
      ['/bin/sh', '-c', "printf 'out\n'; printf 'err\n' >&2"],
      ['/bin/sh', '-c', 'test ! -e "$0" && printf clean', marker],
    ]);
    expect(r.results.map((x) => x.status)).toEqual([0, 0, 0]);
    expect(r.started).toEqual([0, 1, 2]);
    expect(r.bytes.toString()).toBe(`${[weird, ...many].join('|')}|out\nerr\nclean`);
  });

  it('a sequence stops at the first failing step and reports its status', async () => {
    const r = await sequence([['/bin/sh', '-c', 'printf one'], ['/bin/sh', '-c', 'printf two; exit 5'], ['/bin/sh', '-c', 'printf three']]);
    expect(r.results.map((x) => x.status)).toEqual([0, 5]);
    expect(r.started).toEqual([0, 1]);
    expect(r.bytes.toString()).toBe('onetwo');
  });

  it('in a sequence, a process a step leaves behind neither holds up nor writes into the next step', async () => {
    const t0 = Date.now();
    // "late" is step 1's (its FIFO, within the linger time), so it comes before step 2's output.
    const r = await sequence([['/bin/sh', '-c', '(sleep 1; printf late; sleep 6) & printf first'], ['/bin/sh', '-c', 'sleep 2; printf second']]);
    expect(r.results.map((x) => x.status)).toEqual([0, 0]);
    expect(r.bytes.toString()).toBe('firstlatesecond');
    expect(r.warnings).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(8000);
  });

  it('a sequence whose container goes away mid-step returns at once with the steps that finished', async () => {
    const prepared = await fifo.prepareSequence([{ cmd: ['true'] }, { cmd: ['sleep', '60'] }, { cmd: ['true'] }]);
    const c = await startBox(prepared.entrypoint);
    const log = await BuildLog.create(join(dir, 'gone.log'), () => {});
    try {
      const t0 = Date.now();
      const r = await prepared.run(
        {
          start: (i) => {
            if (i === 1) setTimeout(() => void removeContainer(engine, c.id), 300);
            return log.sink();
          },
          end: async () => {},
          warn: () => {},
        },
        c.ended,
      );
      expect(r.results.map((x) => x.status)).toEqual([0]);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      prepared.dispose();
      c.release();
      await removeContainer(engine, c.id).catch(() => {});
      await log.close();
    }
  });

  it('a step that cannot open the FIFO fails with an error that names the way out', async () => {
    chmodSync(dir, 0o755);
    const fifoDir = fifo.mount.source;
    chmodSync(fifoDir, 0o700); // nobody (uid 65534) cannot reach the FIFO any more
    try {
      const err = await step(['true'], '65534:65534').catch((e: Error & { code?: string; hint?: string }) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as { code?: string }).code).toBe('step_output');
      expect(String((err as Error).message)).toMatch(/could not write into the runner's output FIFO/);
      expect((err as { hint?: string }).hint).toMatch(/NERVES_DOCKER_TS_STEP_OUTPUT=exec/);
    } finally {
      chmodSync(fifoDir, 0o711);
    }
    // and the FIFO still works afterwards
    expect((await step(['/bin/sh', '-c', 'printf ok'], '65534:65534')).bytes.toString()).toBe('ok');
  });
});

// Step output through the FIFO (src/runner/step-output.ts) against the real
// engine: bytes and their order arrive exactly, the exit status comes back,
// a process the step leaves behind does not hold the step up, and a FIFO the
// step cannot open is an error that names the way out. The choice of path is
// checked in test/unit/step-output.test.ts; builds through both paths in
// runner.test.ts and hostile.test.ts.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, chmodSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEngine } from '../../src/engine/connect.js';
import { managedLabels, removeContainer, startJobContainer, type JobContainer } from '../../src/engine/containers.js';
import { OpError } from '../../src/errors.js';
import { BuildLog } from '../../src/runner/output/build-log.js';
import { FifoOutput } from '../../src/runner/job/steps/fifo-output.js';
import { prepareSequence, type PreparedSequence, type SequenceStep } from '../../src/runner/job/steps/sequence.js';
import { takeDroppedArtifact, withArtifactDrop } from '../../src/runner/job/artifact/drop.js';
import { NEW_TAG, noContainersSoon, requireEngine } from './helpers/example.js';
import { LABEL } from '../../src/engine/labels.js';

describe('step output through a FIFO (real engine)', () => {
  const engine = openEngine();
  const job = `step-output-${process.pid}`;
  let dir = '';
  let fifo: FifoOutput;

  /** A container of the example image with the FIFO dir mounted; PID 1 the keeper, or `entrypoint`. */
  const startBox = (entrypoint?: string[]) =>
    startJobContainer(engine, {
      image: NEW_TAG,
      labels: managedLabels({ [LABEL.job]: job }),
      env: [],
      mounts: [fifo.mount],
      workingDir: '/',
      keep: false,
      entrypoint,
    });

  /** What a sequence test leaves: the FIFO ends this side holds, its container, its log. */
  async function tidy(prepared: PreparedSequence, box: JobContainer | null, log: BuildLog): Promise<void> {
    prepared.dispose();
    box?.release();
    if (box) await removeContainer(engine, box.id).catch(() => {});
    await log.close();
  }

  beforeAll(async () => {
    await requireEngine();
    dir = mkdtempSync(join(tmpdir(), 'ndt-fifo-'));
    fifo = await FifoOutput.create(dir);
  });

  afterAll(async () => {
    expect(await noContainersSoon({ [LABEL.job]: job })).toEqual([]);
    await fifo?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A prepared sequence as the PID 1 of a container of its own (as a build runs it). */
  async function sequence(cmds: Array<string[] | SequenceStep>) {
    const path = join(dir, `seq-${Math.random().toString(36).slice(2)}`);
    const log = await BuildLog.create(path, () => {});
    let sink = log.sink();
    const started: number[] = [];
    const warnings: string[] = [];
    const end = () => new Promise<void>((res) => sink.end(res));
    const prepared = await prepareSequence(
      fifo,
      cmds.map((c) => (Array.isArray(c) ? { cmd: c } : c)),
    );
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
      return { results: r, started, warnings, bytes: readFileSync(path), box: seqBox };
    } finally {
      await tidy(prepared, seqBox, log);
    }
  }

  it('stdout and stderr arrive byte for byte, in the order written, with the exit status', async () => {
    const r = await sequence([['/bin/sh', '-c', "printf 'one\\n'; printf 'two\\n' >&2; printf 'three\\000\\377\\n'; exit 7"]]);
    expect(r.results.map((x) => x.status)).toEqual([7]);
    expect(r.bytes).toEqual(Buffer.from('one\ntwo\nthree\0\xff\n', 'latin1'));
    expect(r.warnings).toEqual([]);
  });

  it('an empty step, then 3 MB', async () => {
    const r = await sequence([['true'], ['/bin/sh', '-c', 'head -c 3000000 /dev/zero']]);
    expect(r.results.map((x) => x.status)).toEqual([0, 0]);
    expect(r.bytes.equals(Buffer.alloc(3_000_000))).toBe(true);
  });

  it("make system leaves the artifact in the drop dir (as the image's user); the runner copies it into place as its own file", async () => {
    const drop = fifo.dropPath('art.tar.gz');
    const make = ['/bin/sh', '-c', "printf 'artifact bytes' >/tmp/art.tar.gz; printf built"];
    const r = await sequence([withArtifactDrop(make, '/tmp/art.tar.gz', drop.inContainer)]);
    expect(r.results.map((x) => x.status)).toEqual([0]);
    expect(r.bytes.toString()).toBe('built');
    expect(statSync(drop.onHost).uid).toBe(1005); // the example image's user, not this host's
    const dest = join(dir, 'dl', 'art.tar.gz');
    expect(await takeDroppedArtifact(drop.onHost, dest, [1005])).toBe(14); // the owner dropOwners finds for this image
    expect(readFileSync(dest, 'utf8')).toBe('artifact bytes');
    expect(statSync(dest).uid).toBe(process.getuid!());
    expect(existsSync(drop.onHost)).toBe(false);
    expect(readdirSync(join(dir, 'dl'))).toEqual(['art.tar.gz']);
  });

  it('a failed make system keeps its status and drops nothing; a failed copy is not a failure', async () => {
    const drop = fifo.dropPath('art2.tar.gz');
    const failing = await sequence([withArtifactDrop(['/bin/sh', '-c', 'printf made >/tmp/a2; exit 3'], '/tmp/a2', drop.inContainer)]);
    expect(failing.results.map((x) => x.status)).toEqual([3]);
    expect(existsSync(drop.onHost)).toBe(false);
    const unreadable = await sequence([withArtifactDrop(['true'], '/nonexistent/artifact', drop.inContainer)]);
    expect(unreadable.results.map((x) => x.status)).toEqual([0]);
    expect(unreadable.bytes.toString()).toBe('');
    expect(existsSync(drop.onHost)).toBe(false);
    expect(await takeDroppedArtifact(drop.onHost, join(dir, 'dl', 'x'), [1005])).toBeNull();
  });

  it("a sequence runs its steps as the container's own work (no exec), each with its output in order and its status; argv is passed literally", async () => {
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

  it('a step of a sequence may have an environment of its own (set with env(1), so even UID works)', async () => {
    const show = ['/bin/sh', '-c', 'printf "[%s|%s]" "${UID-unset}" "${FOO-unset}"'];
    const r = await sequence([{ cmd: show, env: ['UID=0', 'FOO=a b $(x)'] }, show]);
    expect(r.results.map((x) => x.status)).toEqual([0, 0]);
    expect(r.bytes.toString()).toBe('[0|a b $(x)][unset|unset]');
  });

  it('a sequence stops at the first failing step and reports its status', async () => {
    const r = await sequence([
      ['/bin/sh', '-c', 'printf one'],
      ['/bin/sh', '-c', 'printf two; exit 5'],
      ['/bin/sh', '-c', 'printf three'],
    ]);
    expect(r.results.map((x) => x.status)).toEqual([0, 5]);
    expect(r.started).toEqual([0, 1]);
    expect(r.bytes.toString()).toBe('onetwo');
  });

  it('in a sequence, a process a step leaves behind neither holds up nor writes into the next step', async () => {
    const t0 = Date.now();
    // "late" is step 1's (its FIFO, within the linger time), so it comes before step 2's output.
    const r = await sequence([
      ['/bin/sh', '-c', '(sleep 1; printf late; sleep 6) & printf first'],
      ['/bin/sh', '-c', 'sleep 2; printf second'],
    ]);
    expect(r.results.map((x) => x.status)).toEqual([0, 0]);
    expect(r.bytes.toString()).toBe('firstlatesecond');
    expect(r.warnings).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(8000);
  });

  it('a sequence whose container goes away mid-step returns at once with the steps that finished', async () => {
    const prepared = await prepareSequence(fifo, [{ cmd: ['true'] }, { cmd: ['sleep', '60'] }, { cmd: ['true'] }]);
    const c = await startBox(prepared.entrypoint);
    const log = await BuildLog.create(join(dir, 'gone.log'), () => {});
    try {
      const t0 = Date.now();
      const results = await prepared.run(
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
      expect(results.map((x) => x.status)).toEqual([0]);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await tidy(prepared, c, log);
    }
  });

  it('a step that cannot open its own FIFO fails with an error that names the way out', async () => {
    const prepared = await prepareSequence(fifo, [{ cmd: ['/bin/sh', '-c', 'printf never'] }]);
    // entrypoint: sh -c SCRIPT ndt-keeper CONTROL-FIFO STEP-FIFO TOKEN ...; take the step's FIFO from the image's user (1005)
    const stepFifo = join(fifo.mount.source, basename(prepared.entrypoint[5]!));
    chmodSync(stepFifo, 0o600);
    const c = await startBox(prepared.entrypoint);
    const log = await BuildLog.create(join(dir, 'no-token.log'), () => {});
    try {
      const err = await prepared.run({ start: () => log.sink(), end: async () => {}, warn: () => {} }, c.ended).catch((e: Error) => e);
      expect(err).toBeInstanceOf(OpError);
      expect((err as OpError).code).toBe('step_output');
      expect((err as OpError).message).toMatch(/could not write into the runner's output FIFO \(it exited with status [1-9]/);
      expect((err as OpError).hint).toMatch(/NERVES_DOCKER_TS_STEP_OUTPUT=exec/);
    } finally {
      await tidy(prepared, c, log);
    }
  });

  it('a container that cannot open the FIFOs ends at once, with an error that names the way out', async () => {
    chmodSync(dir, 0o755);
    const fifoDir = fifo.mount.source;
    chmodSync(fifoDir, 0o700); // the image's user (1005) cannot reach the FIFOs any more
    try {
      const t0 = Date.now();
      const err = await sequence([['true']]).catch((e: Error) => e);
      expect(err).toBeInstanceOf(OpError);
      expect((err as OpError).code).toBe('step_output');
      expect((err as OpError).message).toMatch(/ended before it could open the runner's control FIFO/);
      expect((err as OpError).hint).toMatch(/NERVES_DOCKER_TS_STEP_OUTPUT=exec/);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      chmodSync(fifoDir, 0o711);
    }
    // and the FIFOs work again afterwards
    expect((await sequence([['/bin/sh', '-c', 'printf ok']])).bytes.toString()).toBe('ok');
  });
});

// A build.log that cannot be written (a full disk: /dev/full answers every
// write with ENOSPC) fails the job with the OpError `log_file`, naming the
// file and the system's error: never an uncaught 'error' event or an
// unhandled rejection (either ends the sidecar), never a hang. The first
// failure is remembered and reported; later writes are dropped.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { OpError } from '../../src/errors.js';
import type { OpenJob } from '../../src/runner/job/container.js';
import type { Job } from '../../src/runner/job/context.js';
import { explainFailure } from '../../src/runner/job/failures.js';
import { ensureJobImage, type ImageDeps } from '../../src/runner/job/image-source.js';
import { execStepRunner } from '../../src/runner/job/steps/exec.js';
import { prepareSequence, type FifoSource } from '../../src/runner/job/steps/sequence.js';
import { StepLog } from '../../src/runner/job/steps/step-log.js';
import { BuildLog } from '../../src/runner/output/build-log.js';
import type { JobSpec } from '../../src/runner/spec.js';
import { closeWriteEnd, FifoReader, LINGER_MS, openFifo } from '../../src/runner/output/fifo-reader.js';

const dir = mkdtempSync(join(tmpdir(), 'ndt-logfail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** build.log in a fresh directory, a symlink to /dev/full (opened with 'w', which follows it). */
async function fullLog(): Promise<BuildLog> {
  const logDir = mkdtempSync(join(dir, 'log-'));
  symlinkSync('/dev/full', join(logDir, 'build.log'));
  return BuildLog.create(join(logDir, 'build.log'), () => {});
}

/** The log failure: the OpError `log_file`, with the file, the system's error and what to do. */
function expectLogFailure(err: unknown, log: BuildLog): void {
  expect(err).toBeInstanceOf(OpError);
  const e = err as OpError;
  expect(e.code).toBe('log_file');
  expect(e.message).toContain(log.path.slice(0, log.path.lastIndexOf('/')));
  expect(e.message).toMatch(/build\.log.*ENOSPC: no space left on device/);
  expect(e.hint).toMatch(/free space/i);
}

/** How many of this process's file descriptors are open on /dev/full. */
function openOnDevFull(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === '/dev/full';
    } catch {
      return false;
    }
  }).length;
}

/** `count` FIFOs in a fresh directory (the job's FIFO directory, seen from both sides at one path). */
function fifos(count: number): string[] {
  const fifoDir = mkdtempSync(join(dir, 'fifo-'));
  const paths = Array.from({ length: count }, (_, i) => join(fifoDir, `f${i}`));
  execFileSync('mkfifo', paths);
  return paths;
}

/** What the build container does: opens a FIFO for writing (the runner reads it already) and writes into it. */
function writeInto(path: string, data: string): number {
  const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  writeSync(fd, data);
  return fd;
}

/** A job with just what StepLog uses. */
function jobWith(log: BuildLog): Job {
  return { log, reporter: { header() {}, startStep() {} }, stage: '' } as unknown as Job;
}

describe('a build.log that cannot be written', () => {
  it("a step's sink written past the failure: no uncaught error; the step's end and the next step's begin report it", async () => {
    const log = await fullLog();
    const out = new StepLog(jobWith(log));
    const sink = out.begin({ name: 'one', cmd: [] });
    sink.write(Buffer.from('first line\n')); // fails: ENOSPC
    sink.write(Buffer.from('second line\n')); // past the failure: dropped
    await new Promise((r) => setTimeout(r, 20)); // an 'error' nobody listens to would be thrown by now
    expect(sink.put([Buffer.from('a put')])).toBeUndefined(); // dropped, no second error
    const ended = await out.end().then(
      () => null,
      (err: unknown) => err,
    );
    expectLogFailure(ended, log);
    let begun: unknown = null;
    try {
      out.begin({ name: 'two', cmd: [] });
    } catch (err) {
      begun = err;
    }
    expect(begun).toBe(ended); // the first failure, remembered
    expect(log.failure).toBe(ended);
  }, 5_000);

  it('close closes the file, then reports the failure; a big write behind (thread pool) fails the same way', async () => {
    const before = openOnDevFull();
    const log = await fullLog();
    expect(openOnDevFull()).toBe(before + 1);
    const big = log.write(Buffer.alloc(1 << 20, 97)); // > the synchronous limit: written behind
    const after = log.write('dropped\n');
    const failure = await big.then(
      () => null,
      (err: unknown) => err,
    );
    expectLogFailure(failure, log);
    await after; // dropped, not a second error
    await expect(log.settled()).rejects.toBe(failure);
    await expect(log.close()).rejects.toBe(failure);
    expect(openOnDevFull()).toBe(before);
  }, 5_000);

  it("a FIFO read into a step's sink that fails: the read side fails with the log's failure, it does not wait for a drain", async () => {
    const log = await fullLog();
    const [path] = fifos(1);
    const ends = openFifo(path!);
    const reader = new FifoReader(ends.sock, Buffer.from('NDTtoken'));
    reader.resume(log.sink());
    const line = 'a line of output\n';
    const step = writeInto(path!, 'NDTtoken' + line.repeat(1000));
    await new Promise((r) => setTimeout(r, 50)); // read: the sink failed on it
    try {
      writeSync(step, line.repeat(3000)); // more than a paused socket reads ahead: its EOF would never be seen
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('EPIPE'); // the runner stopped reading
    }
    closeSync(step);
    closeWriteEnd(ends); // the step is gone: EOF, once what it wrote is read
    const drained = await reader.drained(LINGER_MS).then(
      () => null,
      (err: unknown) => err,
    );
    expectLogFailure(drained, log);
    reader.destroy();
    await expect(log.close()).rejects.toBe(drained);
  }, 5_000);

  it('FIFO steps (sequence.ts): a step whose output cannot be logged fails the run at once, while the step still runs', async () => {
    const log = await fullLog();
    const source: FifoSource = { takeFifos: async (count) => fifos(count).map((p) => ({ inContainer: p, onHost: p })) };
    const plan = [{ name: 'make', cmd: ['make'] }];
    const sequence = await prepareSequence(source, plan);
    // The driver's arguments follow its script: the control FIFO, then step 0's FIFO and token.
    const [ctlPath, stepPath, token] = sequence.entrypoint.slice(sequence.entrypoint.indexOf('ndt-keeper') + 1);
    const ctl = writeInto(ctlPath!, 'NDT-START\n');
    const step = writeInto(stepPath!, `${token}compiling...\n`); // and it goes on: no NDT-STEP line comes
    const out = new StepLog(jobWith(log));
    try {
      const run = sequence.run({ start: (i) => out.begin(plan[i]!), end: () => out.end(), warn: () => {} }, new Promise(() => {}));
      const failed = await run.then(
        () => null,
        (err: unknown) => err,
      );
      expectLogFailure(failed, log);
    } finally {
      closeSync(ctl);
      closeSync(step);
      sequence.dispose();
      await out.end().catch(() => {});
      await log.close().catch(() => {});
    }
  }, 5_000);

  it('exec stream (one exec runs the steps): the put that fails ends the run with the log failure, small batch or big', async () => {
    for (const size of [100, 512 * 1024]) {
      // 100 bytes: written at once (writevAllSync throws); 512 KiB: behind, on the thread pool (its promise rejects).
      const log = await fullLog();
      const stream = new PassThrough(); // the exec's multiplexed stdout/stderr
      const container = { exec: async () => ({ start: async () => stream, inspect: async () => ({ Running: false, ExitCode: 0 }) }) };
      const open = { job: { container }, layout: { workingDir: '/build' } } as unknown as OpenJob;
      const plan = [{ name: 'make', cmd: ['make'] }];
      const out = new StepLog(jobWith(log));
      const run = execStepRunner({ mode: 'exec', why: '' }).run(plan, open, out, new AbortController().signal);
      const payload = Buffer.alloc(size, 0x61);
      const header = Buffer.alloc(8);
      header[0] = 1; // stdout
      header.writeUInt32BE(payload.length, 4);
      stream.write(Buffer.concat([header, payload])); // and the stream stays open: the step still runs
      const failed = await run.then(
        () => null,
        (err: unknown) => err,
      );
      expectLogFailure(failed, log);
      expect(stream.destroyed).toBe(true); // the exec's stream is let go
      await expect(out.end()).rejects.toBe(failed);
      await expect(log.close()).rejects.toBe(failed);
    }
  }, 5_000);

  it("an image built from its Dockerfile: the build's output, written unawaited, fails the job with the log failure, no unhandled rejection", async () => {
    const log = await fullLog();
    const context = mkdtempSync(join(dir, 'context-'));
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\n');
    let built = false;
    // An engine that has no such image, pulls nothing (no error either) and builds it with two lines of output.
    const docker = {
      getImage: () => ({
        inspect: async () => {
          if (built) return { Id: 'sha256:built', RepoDigests: [], Config: {} };
          throw Object.assign(new Error('no such image'), { statusCode: 404 });
        },
      }),
      pull: async () => Readable.from([]),
      buildImage: async (tar: Readable) => {
        for await (const _ of tar); // the context, read as the engine does
        built = true;
        return Readable.from([JSON.stringify({ stream: 'Step 1/1 : FROM scratch\n' }) + '\n', JSON.stringify({ stream: 'done\n' }) + '\n']);
      },
    };
    const deps = {
      engine: { docker },
      reporter: { header() {}, info() {}, progress() {} },
      log,
      prompt: async () => true,
      local: Promise.resolve(null),
    } as unknown as ImageDeps;
    const spec = { docker: { tag: 'ndt-test/log-failure:1', dockerfile: context } } as JobSpec;
    const failed = await ensureJobImage(spec, deps).then(
      () => null,
      (err: unknown) => err,
    );
    expect(built).toBe(true);
    expectLogFailure(failed, log);
    await expect(log.close()).rejects.toBe(failed);
  }, 5_000);

  it("the job's error is the log's failure, whatever else went wrong after it (a step that lost its output, say)", async () => {
    const log = await fullLog();
    await log.write('a line\n').catch(() => {});
    const job = { ...jobWith(log), op: { signal: new AbortController().signal }, engine: {} } as unknown as Job;
    const later = new OpError('step_failed', 'Step "make" exited with status 141.');
    expectLogFailure(await explainFailure(job, later), log);
    await log.close().catch(() => {});
  });
});

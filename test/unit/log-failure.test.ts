// A build.log that cannot be written (a full disk: /dev/full answers every
// write with ENOSPC) fails the job with the OpError `log_file`, naming the
// file and the system's error: never an uncaught 'error' event or an
// unhandled rejection (either ends the sidecar), never a hang. The first
// failure is remembered and reported; later writes are dropped.
import { mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OpError } from '../../src/errors.js';
import type { Job } from '../../src/runner/job/context.js';
import { StepLog } from '../../src/runner/job/steps/step-log.js';
import { BuildLog } from '../../src/runner/output/build-log.js';

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
});

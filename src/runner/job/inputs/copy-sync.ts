// The two trees a copy build sends (the platform and the package), synced
// into their volumes at once (sync/), with what is left to do once the
// container runs: the syncs' `finish` commands, this machine's record of
// what it left in each volume (sync/host-record.ts), and, when that record
// was trusted instead of reading the volumes' state, the checks the step
// driver makes before the first step and the way back when they fail.
import type Docker from 'dockerode';
import { Collected } from '../../../chunk-sink.js';
import { engineAnswers } from '../../../engine/connect.js';
import { runExec } from '../../../engine/exec.js';
import { OpError } from '../../../errors.js';
import { formatBytes } from '../../output/reporter.js';
import { readHostRecord, writeHostRecord } from './sync/host-record.js';
import { syncTree, type SyncResult } from './sync/index.js';
import type { InputsContext, InputsGate } from './transport.js';

export interface Tree {
  /** "platform", or the package's app name. */
  what: string;
  hostDir: string;
  /** Where its volume is mounted in the build container. */
  root: string;
  volume: string;
  exclude: string[];
}

/**
 * The error of the syncs that failed: the first, unless every one is an
 * input_path error (paths this user cannot read in the platform and in the
 * package): then one error naming them all, so that one fix covers both.
 */
function oneFailure(errors: unknown[]): unknown {
  const paths = errors.filter((e): e is OpError => e instanceof OpError && e.code === 'input_path');
  if (errors.length < 2 || paths.length < errors.length) return errors[0];
  const hints = [...new Set(paths.map((e) => e.hint).filter((h): h is string => !!h))];
  return new OpError('input_path', paths.map((e) => e.message).join('; and '), hints.length > 0 ? hints.join(' ') : null);
}

export class TreeSync {
  private readonly finish: Array<{ cmd: string[]; volume: string; record: Map<string, Buffer> | null }> = [];
  private checks: Array<{ path: string; content: string }> = [];

  constructor(
    private readonly job: InputsContext,
    private readonly trees: Tree[],
  ) {}

  /** Sends what changed (trusting this machine's records when `trusting`); reports one line. */
  async send(container: Docker.Container, trusting: boolean): Promise<void> {
    const { job } = this;
    const onProgress = progress(job, this.trees.length);
    const settled = await Promise.allSettled(
      this.trees.map(async (t, i) => {
        const trusted = trusting ? await readHostRecord(job.spec.build_path, t.volume) : null;
        return syncTree(
          { container, root: t.root },
          {
            hostDir: t.hostDir,
            exclude: t.exclude,
            trusted,
            signal: job.op.signal,
            ...(onProgress ? { onProgress: (p) => onProgress(i, p) } : {}),
          },
        ).catch(async (err: unknown) => {
          throw await interrupted(
            err,
            `copying ${t.what === 'platform' ? 'the platform' : 'the package'} (${t.hostDir}) to the engine`,
            job,
          );
        });
      }),
    );
    const failed = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (failed.length > 0) throw oneFailure(failed);
    const sent = settled.map((r) => (r as PromiseFulfilledResult<SyncResult>).value);
    for (const [i, r] of sent.entries()) {
      const volume = this.trees[i]!.volume;
      if (r.check) this.checks.push(r.check);
      if (r.finish) this.finish.push({ cmd: r.finish, volume, record: r.record });
      else if (r.record) await this.remember(volume, r.record);
    }
    const files = sent.reduce((n, r) => n + r.sentFiles, 0);
    const bytes = sent.reduce((n, r) => n + r.sentBytes, 0);
    const deleted = sent.reduce((n, r) => n + r.deleted, 0);
    job.reporter.info(
      `sent ${files} files (${formatBytes(bytes)})${deleted ? `, removed ${deleted}` : ''}; ${sent.reduce((n, r) => n + r.files, 0)} in the inputs`,
    );
  }

  /** Runs the syncs' finishing commands in the started container (as root), recording each volume once done. */
  async complete(container: Docker.Container): Promise<void> {
    for (const f of this.finish.splice(0)) {
      await finishSync(container, f.cmd, this.job.op.signal);
      if (f.record) await this.remember(f.volume, f.record);
    }
  }

  /** The checks for the step driver, and the way back: sync again reading the volumes, in the running container. */
  gate(): InputsGate {
    return {
      checks: () => [...this.checks],
      recover: async (container) => {
        this.checks = [];
        this.job.reporter.info(
          "the inputs on the engine are not as this machine left them (another machine's build, or a copy cut off); copying again",
        );
        await this.send(container, false);
        await this.complete(container);
      },
    };
  }

  /** A record that cannot be written only costs the next build a read of the volume's state. */
  private async remember(volume: string, record: Map<string, Buffer>): Promise<void> {
    await writeHostRecord(this.job.spec.build_path, volume, record).catch(() => {});
  }
}

/**
 * A transfer cut off said as such, naming what was being copied: a dropped
 * connection to an engine that still answers is an interrupted copy
 * (inputs_sync); one that no longer answers stays engine_lost. Other errors
 * that say what to do pass.
 */
async function interrupted(err: unknown, what: string, job: InputsContext): Promise<unknown> {
  if (job.op.signal.aborted) return err;
  if (err instanceof OpError && err.code !== 'engine_lost') return err;
  // A connection that dropped while the engine still answers is this copy's failure, not a lost engine.
  if (err instanceof OpError && !(await engineAnswers(job.engine))) return err;
  return new OpError(
    'inputs_sync',
    `${what} was interrupted: ${(err as Error).message}`,
    'Rerun the build: the next copy notices what did not arrive and sends it again (only that). `mix nerves.clean` removes the copied inputs.',
  );
}

/** A throttled progress line for a terminal, over the `count` trees sent at once (tree i reports as it goes). */
function progress(job: InputsContext, count: number): ((i: number, p: { sentBytes: number; totalBytes: number }) => void) | undefined {
  if (!job.spec.tty) return undefined;
  const trees = Array.from({ length: count }, () => ({ sentBytes: 0, totalBytes: 0 }));
  let last = 0;
  return (i, p) => {
    trees[i] = p;
    const sent = trees.reduce((n, t) => n + t.sentBytes, 0);
    const total = trees.reduce((n, t) => n + t.totalBytes, 0);
    const now = Date.now();
    if (now - last < 250 && sent < total) return;
    last = now;
    job.reporter.progress({ text: `copying the inputs: ${formatBytes(sent)} of ${formatBytes(total)}` });
  };
}

/** Runs a sync's finishing command (deletions, the completion mark) as root in the started container. */
async function finishSync(container: Docker.Container, cmd: string[], signal: AbortSignal): Promise<void> {
  const out = new Collected();
  const status = await runExec(container, { cmd, user: '0' }, out, { signal });
  if (status !== 0) {
    throw new OpError(
      'inputs_sync',
      `Finishing the copy of the inputs in the build container failed (status ${status}): ${out.text().trim().slice(0, 2000)}`,
      'Rerun the build: the copy is redone where it did not finish. `mix nerves.clean` removes the copied inputs.',
    );
  }
}

// Inputs copied into volumes on the engine, for engines that cannot see
// this machine's files (another host over ssh or tcp, Docker-in-Docker, a VM
// engine without that share): the platform and the package are sent as tar
// streams through the Engine API into volumes of their own (sync/: only
// what changed since the last build), between the container's create and
// its start; Buildroot's downloads live in a volume shared by every system
// built on that engine; ~/.ssh is never copied (ssh_volume: gives the build
// host keys of its own).
import type Docker from 'dockerode';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { engineAnswers } from '../../../engine/connect.js';
import { managedLabels, type JobMount } from '../../../engine/containers.js';
import { runExec } from '../../../engine/exec.js';
import { LABEL } from '../../../engine/labels.js';
import { ensureVolume } from '../../../engine/volumes.js';
import { OpError } from '../../../errors.js';
import { formatBytes } from '../../output/reporter.js';
import type { JobSpec } from '../../spec.js';
import type { Job } from '../context.js';
import { inputVolumes } from '../docker-id.js';
import { syncTree, type SyncResult } from './sync/index.js';
import { DL_DIR, packageDir, PLATFORM_DIR, SSH_DIR, type InputTransport } from './transport.js';

/** Where Buildroot's downloads live on the engine when build_runner_opts names no downloads_volume. */
export const DEFAULT_DOWNLOADS_VOLUME = 'nerves-docker-ts-downloads';

/**
 * What is never sent. The package: its VCS, Mix's build and deps (the
 * platform is sent on its own) and Nerves' artifact dirs. The platform: the
 * same, and the Buildroot trees create-build.sh extracts into it (the
 * volume keeps its own).
 */
export const PACKAGE_EXCLUDES = ['.git', '/_build', '/deps', '/.nerves'];
export const PLATFORM_EXCLUDES = ['.git', '/_build', '/deps', '/.nerves', '/buildroot*'];

/** What a transport needs of the job (the shell has these too). */
export type InputsContext = Pick<Job, 'spec' | 'engine' | 'volume' | 'reporter' | 'scope' | 'op' | 'stage'>;

export async function copyInputs(job: InputsContext, why: string): Promise<InputTransport> {
  const { spec, engine } = job;
  const volumes = inputVolumes(job.volume);
  const labels = managedLabels({ [LABEL.package]: spec.app, [LABEL.buildPath]: spec.build_path, [LABEL.volume]: job.volume });
  await Promise.all([ensureVolume(engine, volumes.platform, labels), ensureVolume(engine, volumes.package, labels)]);
  const ssh = spec.home ? join(spec.home, '.ssh') : '';
  if (!spec.ssh_volume && ssh && existsSync(ssh)) {
    job.reporter.info(
      `${ssh} is not copied to the engine's host (private keys stay here); to fetch over ssh during the build, give that host keys of its own: build_runner_opts ssh_volume: "NAME", a volume there mounted read-only at ${SSH_DIR}.`,
    );
  }
  const finish: string[][] = [];
  return {
    name: 'copy',
    why,
    sharesHostFiles: false,
    mounts: (s: JobSpec): JobMount[] => [
      { type: 'volume', source: s.downloads_volume ?? DEFAULT_DOWNLOADS_VOLUME, target: DL_DIR },
      { type: 'volume', source: volumes.platform, target: PLATFORM_DIR },
      { type: 'volume', source: volumes.package, target: packageDir(s.app) },
      ...(s.ssh_volume ? [{ type: 'volume' as const, source: s.ssh_volume, target: SSH_DIR, readOnly: true }] : []),
    ],
    async beforeStart(container) {
      job.reporter.header('Copying the inputs to the engine');
      job.stage = 'copy inputs';
      const sent: SyncResult[] = [];
      for (const [what, hostDir, root, builtIn] of [
        ['platform', spec.platform_path, PLATFORM_DIR, PLATFORM_EXCLUDES],
        [spec.app, spec.pkg_path, packageDir(spec.app), PACKAGE_EXCLUDES],
      ] as const) {
        const r = await syncTree(
          { container, root },
          { hostDir, exclude: [...builtIn, ...spec.inputs_exclude], signal: job.op.signal, onProgress: progress(job, what) },
        ).catch(async (err: unknown) => {
          throw await interrupted(err, `copying ${what === spec.app ? 'the package' : 'the platform'} (${hostDir}) to the engine`, job);
        });
        if (r.finish) finish.push(r.finish);
        sent.push(r);
      }
      const files = sent.reduce((n, r) => n + r.sentFiles, 0);
      const bytes = sent.reduce((n, r) => n + r.sentBytes, 0);
      const deleted = sent.reduce((n, r) => n + r.deleted, 0);
      job.reporter.info(
        `sent ${files} files (${formatBytes(bytes)})${deleted ? `, removed ${deleted}` : ''}; ${sent.reduce((n, r) => n + r.files, 0)} in the inputs`,
      );
    },
    async afterStart(container) {
      for (const cmd of finish.splice(0)) await finishSync(container, cmd);
    },
  };
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

/** A throttled progress line for a terminal. */
function progress(job: InputsContext, what: string): ((p: { sentBytes: number; totalBytes: number }) => void) | undefined {
  if (!job.spec.tty) return undefined;
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 250 && p.sentBytes < p.totalBytes) return;
    last = now;
    job.reporter.progress({ text: `copying ${what}: ${formatBytes(p.sentBytes)} of ${formatBytes(p.totalBytes)}` });
  };
}

/** Runs a sync's finishing command (deletions, the completion mark) as root in the started container. */
async function finishSync(container: Docker.Container, cmd: string[]): Promise<void> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.length < 64 && chunks.push(c));
  const status = await runExec(container, { cmd, user: '0' }, out);
  if (status !== 0) {
    throw new OpError(
      'inputs_sync',
      `Finishing the copy of the inputs in the build container failed (status ${status}): ${Buffer.concat(chunks).toString('utf8').trim().slice(0, 2000)}`,
      'Rerun the build: the copy is redone where it did not finish. `mix nerves.clean` removes the copied inputs.',
    );
  }
}

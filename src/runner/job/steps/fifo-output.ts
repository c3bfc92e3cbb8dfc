// How a step's output reaches build.log. The exec's attach stream goes
// through dockerd, which copies it onto the HTTP connection: 60-110 MB/s on
// this kind of machine. When the engine runs on this machine's kernel, steps
// instead write into FIFOs in a private host directory bind-mounted into the
// build container, read here with epoll (fifo-reader.ts): the bytes go
// kernel to kernel, and stdout and stderr keep the order they were written
// in (one fd). Such steps run as the container's own work, no exec
// (step-sequence.ts).
// Remote engines and engines in a VM (Docker Desktop, podman machine) keep
// the exec stream. NERVES_DOCKER_TS_STEP_OUTPUT=exec|fifo overrides.
import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Engine } from '../../../engine/connect.js';
import type { JobMount } from '../../../engine/containers.js';
import type { EngineVersion } from '../../../engine/version.js';
import { OpError } from '../../../errors.js';
import { EXEC_HINT, OUTPUT_ENV } from '../../output/fifo-reader.js';
import { alive } from '../lock.js';
import { prepareSequence, type PreparedSequence, type SequenceStep } from './sequence.js';

export type { PreparedSequence, SequenceHooks, SequenceStep } from './sequence.js';

export { OUTPUT_ENV };
/** Where the FIFO's directory appears in the build container. */
export const FIFO_DIR_IN_CONTAINER = '/nerves/ndt-output';
const DIR_PREFIX = '.ndt-output-';
/** The FIFO directory's subdirectory, mode 0777, where the make system step leaves a copy of the artifact. */
const DROP = 'drop';

export type OutputMode = 'fifo' | 'exec';

export interface OutputChoice {
  mode: OutputMode;
  why: string;
}

/** The FIFO path works only when the engine's containers run on our kernel and see our files. */
export function chooseOutputMode(engine: Pick<Engine, 'remote'>, version: Pick<EngineVersion, 'kernel'>, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, kernel: string = release()): OutputChoice {
  const forced = env[OUTPUT_ENV]?.trim();
  if (forced && forced !== 'auto') {
    if (forced !== 'fifo' && forced !== 'exec') {
      throw new OpError('invalid_env', `${OUTPUT_ENV}=${forced} is not one of auto, fifo, exec.`, `Unset ${OUTPUT_ENV} or set it to auto, fifo or exec.`);
    }
    return { mode: forced, why: `${OUTPUT_ENV}=${forced}` };
  }
  if (engine.remote) return { mode: 'exec', why: 'the engine is on another host' };
  if (platform !== 'linux') return { mode: 'exec', why: `the engine runs in a VM on ${platform}` };
  if (!version.kernel || version.kernel !== kernel) {
    return { mode: 'exec', why: `the engine's kernel (${version.kernel || 'unknown'}) is not this machine's (${kernel}): a VM` };
  }
  return { mode: 'fifo', why: 'the engine shares this kernel' };
}

/**
 * Whether chooseOutputMode may pick the FIFO path once the engine's kernel
 * is known (asked here as if it were this machine's): the FIFOs can be made
 * meanwhile. An invalid setting is reported by chooseOutputMode itself.
 */
export function fifoPossible(engine: Pick<Engine, 'remote'>, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): boolean {
  const kernel = release();
  try {
    return chooseOutputMode(engine, { kernel }, env, platform, kernel).mode === 'fifo';
  } catch {
    return false;
  }
}

/**
 * Removes FIFO directories left by a runner that was killed: their names
 * carry the pid of the sidecar that made them, and it is gone. A live
 * sidecar's directory stays, even one made for a job still waiting for the
 * lock.
 */
export async function removeStaleFifoDirs(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  const stale = names.filter((n) => {
    if (!n.startsWith(DIR_PREFIX)) return false;
    const pid = /^\d+(?=-)/.exec(n.slice(DIR_PREFIX.length))?.[0];
    return pid === undefined || !alive(Number(pid)); // no pid: an older version's
  });
  await Promise.all(stale.map((n) => rm(join(parent, n), { recursive: true, force: true })));
}

/**
 * FIFOs for a job's steps, one per step (a process a step leaves behind may
 * keep its FIFO open: the next step's output must not mix with it), in a
 * fresh directory under `parent` with mode 0711, so that their random names
 * cannot be listed.
 */
export class FifoOutput {
  readonly mount: JobMount;
  private readonly ready: string[];

  private constructor(
    private readonly dir: string,
    names: string[],
  ) {
    this.mount = { type: 'bind', source: dir, target: FIFO_DIR_IN_CONTAINER };
    this.ready = names;
  }

  /** Makes the directory, its drop directory and `count` FIFOs in one go (more are made when a job runs more steps). */
  static async create(parent: string, count = 4): Promise<FifoOutput> {
    const dir = await mkdtemp(join(parent, `${DIR_PREFIX}${process.pid}-`));
    try {
      await chmod(dir, 0o711);
      const names = await makeFifos(dir, count);
      await mkdir(join(dir, DROP));
      await chmod(join(dir, DROP), 0o777);
      return new FifoOutput(dir, names);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw new OpError('step_output', `cannot create the step output FIFO in ${parent}: ${(err as Error).message}`, EXEC_HINT);
    }
  }

  /**
   * Where a step may leave a file for the runner: in the container, and on
   * this host. The step's user (any uid) can write there; nobody else can
   * find it (the directory above is 0711 and its name random).
   */
  dropPath(file: string): { inContainer: string; onHost: string } {
    return { inContainer: `${FIFO_DIR_IN_CONTAINER}/${DROP}/${file}`, onHost: join(this.dir, DROP, file) };
  }

  /**
   * Prepares steps to run as the build container's own work (see
   * step-sequence.ts): the container's entrypoint, and how to follow them.
   */
  prepareSequence(steps: SequenceStep[]): Promise<PreparedSequence> {
    return prepareSequence(this, steps);
  }

  /** `count` unused FIFOs: in the container and on this host. */
  async takeFifos(count: number): Promise<Array<{ inContainer: string; onHost: string }>> {
    const missing = count - this.ready.length;
    if (missing > 0) this.ready.push(...(await makeFifos(this.dir, missing))); // one mkfifo for all
    return this.ready.splice(0, count).map((n) => ({ inContainer: `${FIFO_DIR_IN_CONTAINER}/${n}`, onHost: join(this.dir, n) }));
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** `count` FIFOs with random names, mode 0666: the step may run as any uid (the image's entrypoint drops to the host user's). */
async function makeFifos(dir: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, () => randomBytes(12).toString('hex'));
  await promisify(execFile)('mkfifo', ['-m', '0666', '--', ...names.map((n) => join(dir, n))]);
  return names;
}


// The FIFO directory of a job: a private host directory, bind-mounted into
// the build container, holding one FIFO per step (read with epoll in
// ../../output/fifo-reader.ts: the bytes go kernel to kernel, stdout and
// stderr in the order they were written) and a drop directory where make
// system may leave the artifact for the host. Used by fifo.ts.
// Other local users may list build_path: the names inside the directory
// (FIFOs and drop directory alike) are random and cannot be listed, and the
// drop directory is sticky, so that nobody else renames a file over the one
// the step left there.
import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { JobMount } from '../../../engine/containers.js';
import { OpError } from '../../../errors.js';
import { EXEC_HINT } from '../../output/fifo-reader.js';
import { alive } from '../lock.js';
import type { FifoSource } from './sequence.js';
/** Where the FIFO's directory appears in the build container. */
export const FIFO_DIR_IN_CONTAINER = '/nerves/ndt-output';
const DIR_PREFIX = '.ndt-output-';
/** The prefix of the FIFO directory's subdirectory (mode 01777, random name) where make system leaves a copy of the artifact. */
const DROP_PREFIX = 'drop-';

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
export class FifoOutput implements FifoSource {
  readonly mount: JobMount;
  private readonly ready: string[];

  private constructor(
    private readonly dir: string,
    private readonly drop: string,
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
      const drop = `${DROP_PREFIX}${randomBytes(12).toString('hex')}`;
      await mkdir(join(dir, drop));
      // Any uid may write (the step's need not be ours); the sticky bit keeps
      // each file to its owner (and to us, the directory's): no rename over it.
      await chmod(join(dir, drop), 0o1777);
      return new FifoOutput(dir, drop, names);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw new OpError('step_output', `cannot create the step output FIFO in ${parent}: ${(err as Error).message}`, EXEC_HINT);
    }
  }

  /**
   * Where a step may leave a file for the runner: in the container, and on
   * this host. The step's user (any uid) can write there; nobody else can
   * list it (the directory above is 0711, the drop directory's name random;
   * the container's command line names it, though, and ps shows that to
   * every local user where /proc has no hidepid) nor rename over the file
   * the step left (the drop directory is sticky).
   */
  dropPath(file: string): { inContainer: string; onHost: string } {
    return { inContainer: `${FIFO_DIR_IN_CONTAINER}/${this.drop}/${file}`, onHost: join(this.dir, this.drop, file) };
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

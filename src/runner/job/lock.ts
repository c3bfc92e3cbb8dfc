// One job at a time per package build path: a lock file in the artifact
// build path naming its holder (pid, host, since). A second job fails fast
// naming the holder; a lock whose holder is dead (same host, no such pid) is
// taken over. Made by linking a complete file into place, so that no job
// ever reads a lock being written.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OpError } from '../../errors.js';

export const LOCK_FILE = '.nerves-docker-ts.lock';

export interface LockHolder {
  pid: number;
  host: string;
  since: string;
  kind: string;
}

export interface HeldLock {
  path: string;
  release(): Promise<void>;
}

/** Whether a process with this pid runs on this host (EPERM: it does, as another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder a lock file names: null when it is damaged, undefined when there is none. */
async function readHolder(path: string): Promise<LockHolder | null | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return null;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? h : null;
  } catch {
    return null;
  }
}

export async function acquireLock(buildPath: string, kind: string, warn: (t: string) => void): Promise<HeldLock> {
  await mkdir(buildPath, { recursive: true });
  const path = join(buildPath, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), kind };
  // The lock is made whole (holder written) under a name of our own, then linked into place:
  // it appears with its holder in it or not at all. (Created empty and then written, another
  // job reading it in between took it for a damaged lock and took it over: two holders.)
  const mine = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(mine, JSON.stringify(me));
  try {
    for (const until = Date.now() + TAKEOVER_WAIT_MS; ;) {
      if (await linkNew(mine, path)) return { path, release: () => releaseIfMine(path, me) };
      const holder = await readHolder(path);
      if (holder === undefined) continue; // let go meanwhile
      if (holder && (holder.host !== me.host || alive(holder.pid))) {
        throw new OpError(
          'locked',
          `another ${holder.kind} of this package is running (pid ${holder.pid} on ${holder.host}, since ${holder.since})`,
          holder.kind === 'shell'
            ? `Leave that Nerves shell (exit or Ctrl-D) and try again. If that process is gone (another machine sharing this directory), remove ${path}.`
            : `Wait for it to finish, or stop it. If that process is gone (another machine sharing this directory), remove ${path}.`,
        );
      }
      // A dead holder (or a damaged lock): removed by one job at a time, under a second lock,
      // and only while it still names that holder; then linked as above.
      if (await removeDeadLock(path, mine, holder)) {
        warn(holder ? `taking over the lock of pid ${holder.pid}, which is gone` : `replacing the unreadable lock ${path}`);
      } else if (Date.now() > until) {
        break;
      } else {
        await sleep(20);
      }
    }
  } finally {
    await rm(mine, { force: true });
  }
  throw new OpError('locked', `could not take the build lock ${path}: another job is taking it over`, 'Try again.');
}

/** How long a job waits while another removes a dead holder's lock. */
const TAKEOVER_WAIT_MS = 2000;

/**
 * Removes the lock at `path` if it still names `dead`, holding `path.takeover` meanwhile (made like
 * the lock); false when another job holds that (a takeover whose own holder died is cleared).
 */
async function removeDeadLock(path: string, mine: string, dead: LockHolder | null): Promise<boolean> {
  const takeover = `${path}.takeover`;
  if (!(await linkNew(mine, takeover))) {
    const other = await readHolder(takeover);
    if (other && other.host === hostname() && !alive(other.pid)) await rm(takeover, { force: true });
    return false;
  }
  try {
    // Nothing else removes or replaces a lock naming a dead holder: what is read here is what goes.
    if (!sameHolder(await readHolder(path), dead)) return false;
    await rm(path, { force: true });
    return true;
  } finally {
    await rm(takeover, { force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** File systems without hard links (some network shares): an exclusive copy, not atomic with its content. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** Links `from` as `to` unless `to` exists (false then). */
async function linkNew(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to).catch((err: NodeJS.ErrnoException) => {
      if (!NO_LINKS.has(err.code ?? '')) throw err;
      return copyFile(from, to, constants.COPYFILE_EXCL);
    });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function sameHolder(a: LockHolder | null | undefined, b: LockHolder | null): boolean {
  if (!a || !b) return a === b;
  return a.pid === b.pid && a.host === b.host && a.since === b.since && a.kind === b.kind;
}

async function releaseIfMine(path: string, me: LockHolder): Promise<void> {
  if (sameHolder(await readHolder(path), me)) await rm(path, { force: true });
}

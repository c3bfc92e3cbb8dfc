// One job at a time per package build path: a lock file in the artifact
// build path naming its holder (pid, host, since). A second job fails fast
// naming the holder; a lock whose holder is dead (same host, no such pid) is
// taken over.
import { hostname } from 'node:os';
import { mkdir, open, readFile, rm, writeFile, rename } from 'node:fs/promises';
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

async function readHolder(path: string): Promise<LockHolder | null> {
  try {
    const h = JSON.parse(await readFile(path, 'utf8')) as LockHolder;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? h : null;
  } catch {
    return null;
  }
}

export async function acquireLock(buildPath: string, kind: string, warn: (t: string) => void): Promise<HeldLock> {
  await mkdir(buildPath, { recursive: true });
  const path = join(buildPath, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), kind };
  const body = JSON.stringify(me);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(body);
      await fh.close();
      return { path, release: () => releaseIfMine(path) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readHolder(path);
    if (holder && (holder.host !== me.host || alive(holder.pid))) {
      throw new OpError(
        'locked',
        `another ${holder.kind} of this package is running (pid ${holder.pid} on ${holder.host}, since ${holder.since})`,
        `Wait for it to finish, or stop it. If that process is gone (another machine sharing this directory), remove ${path}.`,
      );
    }
    // Dead holder (or an unreadable lock): take it over atomically.
    warn(holder ? `taking over the lock of pid ${holder.pid}, which is gone` : `replacing the unreadable lock ${path}`);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, body);
    await rename(tmp, path);
    const now = await readHolder(path);
    if (now?.pid === me.pid && now.host === me.host) return { path, release: () => releaseIfMine(path) };
  }
  throw new OpError('locked', `could not take the build lock ${path}`, 'Try again.');
}

async function releaseIfMine(path: string): Promise<void> {
  const holder = await readHolder(path);
  if (holder && holder.pid === process.pid && holder.host === hostname()) await rm(path, { force: true });
}

import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, LOCK_FILE } from '../../src/runner/job/lock.js';

describe('build lock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndt-lock-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is taken, refused to a second holder naming the first, and released', async () => {
    const a = await acquireLock(dir, 'build', () => {});
    const holder = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    expect(holder).toMatchObject({ pid: process.pid, host: hostname(), kind: 'build' });
    await expect(acquireLock(dir, 'build', () => {})).rejects.toMatchObject({
      code: 'locked',
      message: expect.stringContaining(`pid ${process.pid} on ${hostname()}`),
    });
    await a.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('takes over the lock of a dead process, with a warning', async () => {
    // A pid that cannot be alive: above the kernel's pid_max.
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 30, host: hostname(), since: 'then', kind: 'build' }));
    const warnings: string[] = [];
    const l = await acquireLock(dir, 'build', (t) => warnings.push(t));
    expect(warnings).toEqual([`taking over the lock of pid ${2 ** 30}, which is gone`]);
    await l.release();
  });

  it('does not take over a lock held on another host', async () => {
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 30, host: 'elsewhere', since: 'then', kind: 'build' }));
    await expect(acquireLock(dir, 'build', () => {})).rejects.toMatchObject({ code: 'locked', hint: expect.stringContaining(LOCK_FILE) });
    rmSync(join(dir, LOCK_FILE));
  });
});

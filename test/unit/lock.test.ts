import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, LOCK_FILE } from '../../src/runner/job/lock.js';

describe('build lock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndt-lock-'));
  const barriers = mkdtempSync(join(tmpdir(), 'ndt-lock-barriers-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(barriers, { recursive: true, force: true });
  });

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

  it("a shell's lock says to leave the shell", async () => {
    const shell = await acquireLock(dir, 'shell', () => {});
    await expect(acquireLock(dir, 'clean', () => {})).rejects.toMatchObject({
      code: 'locked',
      message: expect.stringContaining('another shell of this package is running'),
      hint: expect.stringContaining('Leave that Nerves shell'),
    });
    await shell.release();
  });

  it('does not take over a lock held on another host', async () => {
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 30, host: 'elsewhere', since: 'then', kind: 'build' }));
    await expect(acquireLock(dir, 'build', () => {})).rejects.toMatchObject({ code: 'locked', hint: expect.stringContaining(LOCK_FILE) });
    rmSync(join(dir, LOCK_FILE));
  });

  // Separate processes (each its own pid, as jobs are), all loaded and then let go at once: the built lock
  // (dist/, `npm run build`). The holder keeps the lock until every other process has answered.
  const LOCK_JS = fileURLToPath(new URL('../../dist/runner/job/lock.js', import.meta.url));
  const CHILD = `
    const { existsSync } = await import('node:fs');
    const { acquireLock } = await import(process.argv[1]);
    console.log('ready');
    while (!existsSync(process.argv[3])) {}
    try {
      const lock = await acquireLock(process.argv[2], 'build', () => {});
      console.log('got');
      while (!existsSync(process.argv[4])) await new Promise((r) => setTimeout(r, 10));
      await lock.release();
    } catch (e) {
      console.log(e.code ?? e.message);
    }`;
  async function race(n: number): Promise<string[]> {
    const go = join(barriers, 'go');
    const done = join(barriers, 'done');
    rmSync(go, { force: true });
    rmSync(done, { force: true });
    const answers: string[] = [];
    let ready = 0;
    const children = Array.from({ length: n }, () => {
      const c = spawn(process.execPath, ['--input-type=module', '-e', CHILD, LOCK_JS, dir, go, done], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      createInterface({ input: c.stdout }).on('line', (line) => {
        if (line === 'ready') {
          if (++ready === n) writeFileSync(go, '');
        } else if (answers.push(line) === n) writeFileSync(done, '');
      });
      return once(c, 'exit');
    });
    await Promise.all(children);
    return answers.sort();
  }

  it('between processes asking at once: exactly one holder, each time', async () => {
    for (let round = 0; round < 3; round++) {
      expect(await race(6)).toEqual(['got', 'locked', 'locked', 'locked', 'locked', 'locked']);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it("between processes finding a dead holder's lock at once: exactly one takes it over, each time", async () => {
    for (let round = 0; round < 3; round++) {
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 30, host: hostname(), since: `r${round}`, kind: 'build' }));
      expect(await race(6)).toEqual(['got', 'locked', 'locked', 'locked', 'locked', 'locked']);
      expect(readdirSync(dir)).toEqual([]);
    }
  });
});

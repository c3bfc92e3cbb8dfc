// The artifact a step drops on this host (src/runner/job/artifact/drop.ts,
// the drop directory of src/runner/job/steps/fifo-output.ts), against
// another local user: the drop directory's name is random and it is sticky
// (no rename over a file the step left), and what is taken is a regular
// file opened without following a symlink (no other file's bytes).
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropOwners, takeDroppedArtifact } from '../../src/runner/job/artifact/drop.js';
import { FifoOutput } from '../../src/runner/job/steps/fifo-output.js';

const root = mkdtempSync(join(tmpdir(), 'ndt-drop-'));
const ME = [process.getuid?.() ?? 0];
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('takeDroppedArtifact', () => {
  let fifo: FifoOutput;
  beforeAll(async () => {
    fifo = await FifoOutput.create(root);
  });
  afterAll(() => fifo.remove());

  it('copies a dropped regular file into place and removes it', async () => {
    const drop = fifo.dropPath('a.tar.gz');
    writeFileSync(drop.onHost, 'artifact bytes');
    expect(await takeDroppedArtifact(drop.onHost, join(root, 'dl', 'a.tar.gz'), ME)).toBe(14);
    expect(readFileSync(join(root, 'dl', 'a.tar.gz'), 'utf8')).toBe('artifact bytes');
    expect(existsSync(drop.onHost)).toBe(false);
  });

  it("refuses a symlink at the drop path (the archive request takes over): the target's bytes are not copied, the target stays", async () => {
    const secret = join(root, 'secret');
    writeFileSync(secret, 'what the user may read');
    const drop = fifo.dropPath('b.tar.gz');
    symlinkSync(secret, drop.onHost);
    expect(await takeDroppedArtifact(drop.onHost, join(root, 'dl', 'b.tar.gz'), ME)).toBeNull();
    expect(existsSync(join(root, 'dl', 'b.tar.gz'))).toBe(false);
    expect(existsSync(drop.onHost)).toBe(false); // the link, not its target
    expect(readFileSync(secret, 'utf8')).toBe('what the user may read');
  });

  it('refuses what is not a regular file, without waiting on a FIFO', async () => {
    const drop = fifo.dropPath('c.tar.gz');
    expect(spawnSync('mkfifo', ['-m', '0666', drop.onHost]).status).toBe(0);
    expect(await takeDroppedArtifact(drop.onHost, join(root, 'dl', 'c.tar.gz'), ME)).toBeNull();
    expect(existsSync(join(root, 'dl', 'c.tar.gz'))).toBe(false);
  });
});

describe('the drop directory', () => {
  it('has a random name and is sticky, writable by any uid', async () => {
    const [one, two] = [await FifoOutput.create(root), await FifoOutput.create(root)];
    try {
      const dirs = [one, two].map((f) => dirname(f.dropPath('x').onHost));
      expect(basename(dirs[0]!)).not.toBe(basename(dirs[1]!));
      expect(basename(dirs[0]!)).toMatch(/[0-9a-f]{24}$/);
      for (const d of dirs) expect(statSync(d).mode & 0o7777).toBe(0o1777);
      expect(one.dropPath('x').inContainer).toBe(`/nerves/ndt-output/${basename(dirs[0]!)}/x`);
    } finally {
      await Promise.all([one.remove(), two.remove()]);
    }
  });

  // Root only: the step and another user are other uids (setpriv, chown).
  it.skipIf(process.getuid?.() !== 0)("a file another uid put at the drop path before the step's copy is not taken", async () => {
    const fifo = await FifoOutput.create(root);
    try {
      const drop = fifo.dropPath('e.tar.gz');
      writeFileSync(drop.onHost, 'evil');
      chownSync(drop.onHost, 1006, 1006);
      expect(await takeDroppedArtifact(drop.onHost, join(root, 'dl', 'e.tar.gz'), [1005, 0])).toBeNull();
      expect(existsSync(join(root, 'dl', 'e.tar.gz'))).toBe(false);
    } finally {
      await fifo.remove();
    }
  });

  it("dropOwners: the uids of the container's first process as this host sees it, root and ours", async () => {
    const uids = readFileSync('/proc/self/status', 'utf8').match(/^Uid:\s+(\d+)/m)![1];
    const self = { inspect: async () => ({ State: { Pid: process.pid } }) };
    expect((await dropOwners(self as never)).sort()).toEqual([...new Set([0, process.getuid!(), Number(uids)])].sort());
    const gone = { inspect: async () => ({ State: { Pid: 0 } }) };
    expect((await dropOwners(gone as never)).sort()).toEqual([...new Set([0, process.getuid!()])].sort());
  });

  // Root only: the step and another user are other uids (setpriv).
  const asRoot = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
  it.skipIf(!asRoot)("another user who knows its path cannot rename a file of theirs over the step's", async () => {
    const parent = mkdtempSync(join(tmpdir(), 'ndt-drop-build-path-'));
    chmodSync(parent, 0o755); // a build_path others may enter
    const fifo = await FifoOutput.create(parent);
    try {
      const drop = fifo.dropPath('d.tar.gz');
      const as = (uid: number, script: string) =>
        spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '/bin/sh', '-c', script, 'sh', drop.onHost]);
      expect(as(1005, 'printf built >"$1"').status).toBe(0); // the step
      const attacker = as(1006, 'printf evil >"$1.x" && mv -f -- "$1.x" "$1"');
      expect(attacker.status).not.toBe(0);
      expect(await takeDroppedArtifact(drop.onHost, join(parent, 'd.tar.gz'), [1005])).toBe(5);
      expect(readFileSync(join(parent, 'd.tar.gz'), 'utf8')).toBe('built');
    } finally {
      await fifo.remove();
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

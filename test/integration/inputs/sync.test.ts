// The tree sync (src/runner/job/inputs/sync/) against the real engine: a
// tree with exec bits, symlinks inside and out, empty dirs, awkward names, a
// FIFO and a 20 MB file arrives exactly (listing and content hashes compared
// with the host's); a no-change re-sync sends nothing; changes send only
// what changed; an interrupted sync is found and repaired; damaged state is
// read back; a name that is not UTF-8 is a clear error.
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpError } from '../../../src/errors.js';
import { syncTree, type SyncResult } from '../../../src/runner/job/inputs/sync/index.js';
import Docker from 'dockerode';
import { engineProxy } from '../helpers/engine-proxy.js';
import { requireEngine } from '../helpers/example.js';
import {
  createBox,
  docker,
  execRoot,
  hostHashes,
  hostListing,
  LABEL,
  removeSyncScaffolding,
  runIn,
  volumeHashes,
  volumeListing,
} from './sync-helpers.js';

const ROOT = '/sync';

describe('tree sync into a volume (real engine)', () => {
  let dir = '';
  let tree = '';
  let outside = '';
  const volume = `ndt-sync-test-${process.pid}`;

  beforeAll(async () => {
    await requireEngine();
    dir = mkdtempSync(join(tmpdir(), 'ndt-sync-'));
    tree = join(dir, 'tree');
    outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'host file that must not be sent\n');
    mkdirSync(join(tree, 'bin'), { recursive: true });
    mkdirSync(join(tree, 'empty/deeper'), { recursive: true });
    mkdirSync(join(tree, 'with space/and\nnewline'), { recursive: true });
    mkdirSync(join(tree, '_build/x'), { recursive: true });
    writeFileSync(join(tree, '_build/x/skip'), 'excluded');
    writeFileSync(join(tree, 'bin/tool'), '#!/bin/sh\necho hi\n');
    chmodSync(join(tree, 'bin/tool'), 0o755);
    writeFileSync(join(tree, 'readonly'), 'r');
    chmodSync(join(tree, 'readonly'), 0o444);
    writeFileSync(join(tree, 'with space/and\nnewline/file name\nx'), 'awkward');
    writeFileSync(join(tree, 'big'), Buffer.alloc(20 << 20, 7));
    for (let i = 0; i < 200; i++) writeFileSync(join(tree, 'empty', `small-${i}`), `small ${i}\n`);
    symlinkSync('bin/tool', join(tree, 'link-in'));
    symlinkSync(outside, join(tree, 'link-out'));
    symlinkSync(join(outside, 'secret'), join(tree, 'link-secret'));
    symlinkSync('nowhere', join(tree, 'dangling'));
    execFileSync('mkfifo', [join(tree, 'fifo')]);
    utimesSync(join(tree, 'readonly'), 1_000_000_000.123, 1_000_000_000.123);
    chownSync(join(tree, 'readonly'), 1234, 5678);
    lchownSync(join(tree, 'link-in'), 4321, 8765);
    chownSync(join(tree, 'empty/deeper'), 1005, 1005);
    await docker.createVolume({ Name: volume, Labels: LABEL });
  });

  afterAll(() => removeSyncScaffolding(volume, dir));

  interface SyncRun extends SyncResult {
    finishCode?: number;
    finishOut?: string;
  }

  /** One sync through a created container, then `finish` as root in it once started; the box is removed. */
  async function sync(
    opts: {
      signal?: AbortSignal;
      onProgress?: (p: { sentBytes: number }) => void;
      mounts?: Array<{ Type: 'volume'; Source: string; Target: string }>;
      finishMayFail?: boolean;
    } = {},
  ): Promise<SyncRun> {
    const c = await createBox(volume, ROOT, undefined, opts.mounts);
    try {
      const r = await syncTree(
        { container: c, root: ROOT },
        { hostDir: tree, exclude: ['_build/'], signal: opts.signal, onProgress: opts.onProgress },
      );
      if (!r.finish) return r;
      await c.start();
      const f = await execRoot(c, r.finish);
      if (!opts.finishMayFail) expect(f.code, f.stderr).toBe(0);
      return { ...r, finishCode: f.code, finishOut: f.stderr };
    } finally {
      await c.remove({ force: true });
    }
  }

  /** The volume holds exactly the host tree (the excluded dir and the FIFO aside). */
  async function expectSame(): Promise<void> {
    const host = hostListing(tree, ['_build', 'fifo']);
    const vol = await volumeListing(volume, ROOT);
    expect(vol).toEqual(host);
    const c = await createBox(volume, ROOT);
    try {
      const files = host
        .map((r) => r.split(' | '))
        .filter((f) => f[1] === 'f')
        .map((f) => f[0]!);
      expect(await volumeHashes(c, ROOT)).toEqual(hostHashes(tree, files));
    } finally {
      await c.remove({ force: true });
    }
  }

  it('sends the tree exactly: modes, owners, nanosecond mtimes, symlinks as symlinks, awkward names', async () => {
    const r = await sync();
    expect(r.finish).toBeNull();
    expect(r.skipped).toBe(1);
    expect(r.skippedPaths).toEqual(['fifo']);
    expect(r.sentBytes).toBeGreaterThan(20 << 20);
    await expectSame();
    // The symlink pointing outside is a symlink in the volume; the host file it names was never sent.
    const out = (
      await runIn(volume, ROOT, ['sh', '-c', `readlink ${ROOT}/link-secret; ls ${ROOT}/_build 2>&1; ls ${ROOT}/.ndt-sync`])
    ).toString();
    expect(out).toContain(join(outside, 'secret'));
    expect(out).toMatch(/No such file/);
    expect(out).toContain('manifest.json.gz');
  });

  it('sends nothing when nothing changed', async () => {
    const r = await sync();
    expect([r.sentFiles, r.sentBytes, r.archiveBytes, r.deleted, r.finish]).toEqual([0, 0, 0, 0, null]);
  });

  it('sends only what changed, removes what is gone, and sets the metadata of a touched file', async () => {
    writeFileSync(join(tree, 'empty/small-1'), 'SMALL 1\n'); // same size, new content
    rmSync(join(tree, 'empty/small-2'));
    rmSync(join(tree, 'with space'), { recursive: true });
    writeFileSync(join(tree, 'bin/new'), 'new file');
    utimesSync(join(tree, 'empty/small-3'), 1_500_000_000.5, 1_500_000_000.5); // same content, new mtime
    chmodSync(join(tree, 'empty/small-4'), 0o600);
    const r = await sync();
    expect(r.sentFiles).toBe(2);
    expect(r.sentBytes).toBe('SMALL 1\n'.length + 'new file'.length);
    expect(r.deleted).toBe(2);
    expect(r.fixed).toBe(2);
    expect(r.finish).not.toBeNull();
    await expectSame();
    const again = await sync();
    expect([again.archiveBytes, again.finish]).toEqual([0, null]);
  });

  it('finds an interrupted sync and repairs it, resending only what may be incomplete', async () => {
    appendFileSync(join(tree, 'big'), 'more');
    for (let i = 10; i < 20; i++) writeFileSync(join(tree, 'empty', `small-${i}`), `changed ${i}\n`);
    rmSync(join(tree, 'empty/small-30'));
    const ctl = new AbortController();
    const err = await sync({ signal: ctl.signal, onProgress: (p) => p.sentBytes > 5 << 20 && ctl.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).code).toBe('interrupted');
    // Half-written: the volume does not match, and its state says so.
    const state = (await runIn(volume, ROOT, ['cat', `${ROOT}/.ndt-sync/state`])).toString();
    expect(state).toMatch(/^syncing [0-9a-f]+\n$/);
    const r = await sync();
    expect(r.readBack).toBe(false);
    expect(r.sentFiles).toBeLessThanOrEqual(12);
    expect(r.deleted).toBe(1);
    await expectSame();
    expect((await sync()).archiveBytes).toBe(0);
  });

  it('reports a connection dropped mid-upload, and the next sync repairs it', async () => {
    writeFileSync(join(tree, 'big'), Buffer.alloc(20 << 20, 9));
    writeFileSync(join(tree, 'empty/small-50'), 'changed 50\n');
    const socket = join(dir, 'engine.sock');
    let through = 0;
    // A proxy of the engine's socket that cuts the connection once 4 MB of the upload went through.
    const proxy = await engineProxy(socket, (chunk, upstream, client) => {
      through += chunk.length;
      if (through > 4 << 20) {
        upstream.destroy();
        client.destroy();
      } else upstream.write(chunk);
    });
    const c = await createBox(volume, ROOT);
    try {
      const viaProxy = new Docker({ socketPath: socket }).getContainer(c.id);
      const err = await syncTree({ container: viaProxy, root: ROOT }, { hostDir: tree, exclude: ['_build/'] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpError);
      expect((err as OpError).code).toBe('engine_lost');
      expect((err as OpError).message).toContain(tree);
    } finally {
      await proxy.close();
      await c.remove({ force: true });
    }
    const r = await sync();
    expect(r.readBack).toBe(false);
    expect(r.sentFiles).toBe(2);
    await expectSame();
  });

  it('reads the volume back when its state cannot be trusted, and removes only what the host does not have', async () => {
    await runIn(volume, ROOT, [
      'sh',
      '-c',
      `echo garbage > ${ROOT}/.ndt-sync/manifest.json.gz; echo stale > ${ROOT}/stray; echo x > ${ROOT}/bin/tool`,
    ]);
    const r = await sync();
    expect(r.readBack).toBe(true);
    expect(r.sentFiles).toBeLessThanOrEqual(3);
    expect(r.deleted).toBe(1);
    await expectSame();
  });

  it('does not follow a symlink that replaced a directory in the volume behind its back', async () => {
    const victim = `ndt-sync-victim-${process.pid}`;
    await docker.createVolume({ Name: victim, Labels: LABEL });
    try {
      await runIn(victim, '/victim', ['sh', '-c', 'echo precious > /victim/new']);
      // Something in the volume (a build) turns bin/ into a symlink to another mount; bin/new then goes on the host.
      await runIn(volume, ROOT, ['sh', '-c', `rm -rf ${ROOT}/bin && ln -s /victim ${ROOT}/bin`]);
      // bin/ keeps its mtime on the host (as a tool that restores mtimes would leave it), so it is not sent again.
      const mtime = execFileSync('stat', ['-c', '%.9Y', join(tree, 'bin')])
        .toString()
        .trim();
      rmSync(join(tree, 'bin/new'));
      execFileSync('touch', ['-d', `@${mtime}`, join(tree, 'bin')]);
      const r = await sync({ mounts: [{ Type: 'volume', Source: victim, Target: '/victim' }], finishMayFail: true });
      expect(r.finishCode).toBe(4);
      expect(r.finishOut).toMatch(/left alone.*bin\/new/);
      expect((await runIn(victim, '/victim', ['cat', '/victim/new'])).toString()).toBe('precious\n');
      // The state stays "finishing": the next sync takes bin/new as unknown, and repairs nothing it cannot see.
      expect((await runIn(volume, ROOT, ['cat', `${ROOT}/.ndt-sync/state`])).toString()).toMatch(/^finishing /);
    } finally {
      await docker
        .getVolume(victim)
        .remove()
        .catch(() => {});
    }
  });

  it('refuses a name that is not valid UTF-8, naming it', async () => {
    const bad = Buffer.concat([Buffer.from(join(tree, 'bad-')), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]);
    writeFileSync(bad, 'x');
    try {
      const err = await sync().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpError);
      expect((err as OpError).code).toBe('input_path');
      expect((err as OpError).message).toMatch(/bad-.*\.txt.*not valid UTF-8/);
    } finally {
      rmSync(bad);
    }
  });
});

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildContainer } from '../../../src/image/index.js';
import { busyboxRootfs, run, tempDir } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

// runc needs root; this suite is meant to run as root, as the issue requires.
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('buildContainer runc test: not root, runc run will fail');

describe('buildContainer bundle run by runc', () => {
  let work: { path: string; remove(): Promise<void> };
  const state = { root: '', ids: [] as string[] };
  beforeAll(async () => {
    work = await tempDir('ndt-bundle-');
    state.root = join(work.path, 'runc-state');
  });
  afterAll(async () => {
    for (const id of state.ids) await run('runc', ['--root', state.root, 'delete', '--force', id]).catch(() => undefined);
    await work?.remove();
  });

  it('runs args with a mount visible inside and a read-only root', async () => {
    const rootfs = await busyboxRootfs(join(work.path, 'rootfs'), ['sh', 'cat', 'touch', 'echo', 'mount', 'grep']);
    const data = join(work.path, 'data');
    await mkdir(data);
    await writeFile(join(data, 'hello.txt'), 'hello through a mount\n');
    const bundle = join(work.path, 'bundle');
    const r = await buildContainer({
      args: [
        '/bin/sh',
        '-c',
        "cat /data/hello.txt; grep ' /data ' /proc/mounts >/dev/null && echo mounted; touch /x 2>/dev/null || echo root-is-readonly; echo written > /data/out.txt",
      ],
      out: bundle,
      copyToRoot: rootfs,
      readonly: true,
      mounts: { '/data': { type: 'none', source: data, options: ['rbind', 'rw'] } },
    });
    const cfg = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
      ociVersion: string;
      root: { readonly: boolean };
      mounts: { destination: string }[];
    };
    expect(cfg.ociVersion).toBe('1.0.2');
    expect(cfg.root.readonly).toBe(true);
    expect(cfg.mounts.map((m) => m.destination)).toContain('/data');
    expect(r.storePaths).toEqual([]);
    const id = `ndt-bundle-${process.pid}`;
    state.ids.push(id);
    const { stdout } = await run('runc', ['--root', state.root, 'run', '--bundle', bundle, id]);
    expect(stdout).toContain('hello through a mount');
    expect(stdout).toContain('mounted');
    expect(stdout).toContain('root-is-readonly');
    expect(await readFile(join(data, 'out.txt'), 'utf8')).toBe('written\n');
  });

  it('bind-mounts the store closure of args read-only, as nixpkgs does', async () => {
    const rootfs = await busyboxRootfs(join(work.path, 'rootfs2'), ['sh', 'cat', 'touch', 'echo']);
    const store = join(work.path, 'store');
    const dep = join(store, `${'d'.repeat(32)}-dep`);
    const pkg = join(store, `${'p'.repeat(32)}-hello`);
    await mkdir(dep, { recursive: true });
    await writeFile(join(dep, 'msg'), 'message from a dependency\n');
    await mkdir(join(pkg, 'bin'), { recursive: true });
    await writeFile(
      join(pkg, 'bin', 'hello'),
      `#!/bin/sh\necho hello from the store\ncat ${dep}/msg\ntouch ${dep}/x 2>/dev/null || echo store-is-readonly\n`,
      { mode: 0o755 },
    );
    const bundle = join(work.path, 'bundle2');
    const r = await buildContainer({ args: [join(pkg, 'bin', 'hello')], out: bundle, copyToRoot: rootfs, storeDir: store });
    expect(r.storePaths).toEqual([dep, pkg]);
    const id = `ndt-bundle2-${process.pid}`;
    state.ids.push(id);
    const { stdout } = await run('runc', ['--root', state.root, 'run', '--bundle', bundle, id]);
    expect(stdout).toContain('hello from the store');
    expect(stdout).toContain('message from a dependency');
    expect(stdout).toContain('store-is-readonly');
  });

  it('refuses missing mount sources', async () => {
    await expect(
      buildContainer({ args: ['/bin/sh'], out: join(work.path, 'b2'), mounts: [{ destination: '/x', source: join(work.path, 'nope') }] }),
    ).rejects.toThrow(/mount source .*nope .* does not exist/);
  });
});

// The same inputs give the same image whatever the builder's umask: the
// oci-archive's own files, the customisation layer's merged directories,
// shadowSetup's files and directories, what extraCommands create and
// buildContainer's bundle (its directory, rootfs/ and config.json) all have
// modes that do not come from it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildContainer, buildImage, buildLayeredImage, shadowSetup } from '../../../src/image/index.js';

let work: string;
let root: string;
let store: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ndt-umask-'));
  // Fixtures made with explicit modes: only the builds below run under the umasks compared.
  root = join(work, 'root');
  await mkdir(join(root, 'bin'), { recursive: true });
  await writeFile(join(root, 'bin', 'hello'), '#!/bin/sh\necho hello\n');
  store = join(work, 'store');
  for (const name of ['one', 'two']) {
    await mkdir(join(store, `${name}-path`, 'bin'), { recursive: true });
    await writeFile(join(store, `${name}-path`, 'bin', name), `${name}\n`);
    await chmod(join(store, `${name}-path`, 'bin', name), 0o644);
    for (const d of [`${name}-path`, `${name}-path/bin`]) await chmod(join(store, d), 0o755);
  }
  for (const d of [root, join(root, 'bin'), store]) await chmod(d, 0o755);
  await chmod(join(root, 'bin', 'hello'), 0o755);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** `build` run under umask 022 and then 077 (the process's umask restored after each), its two results. */
async function underUmasks<T>(build: (mask: string) => Promise<T>): Promise<[T, T]> {
  const results: T[] = [];
  for (const mask of [0o022, 0o077]) {
    const saved = process.umask(mask);
    try {
      results.push(await build(mask.toString(8).padStart(3, '0')));
    } finally {
      process.umask(saved);
    }
  }
  return results as [T, T];
}

describe('the umask does not reach the image', () => {
  it('oci-archive: the layout is archived with fixed modes', async () => {
    const [a, b] = await underUmasks((m) =>
      buildImage({ name: 'ndt-test/umask', tag: 't', copyToRoot: root, format: 'oci-archive', out: join(work, `oci-${m}.tar`) }),
    );
    expect(b.imageId).toBe(a.imageId);
    expect(b.sha256).toBe(a.sha256);
  });

  it('buildLayeredImage: directories merged from several store paths', async () => {
    const contents = [join(store, 'one-path'), join(store, 'two-path')];
    const [a, b] = await underUmasks((m) =>
      buildLayeredImage({ name: 'ndt-test/umask', tag: 't', contents, storeDir: store, out: join(work, `layered-${m}.tar`) }),
    );
    expect(b.imageId).toBe(a.imageId);
  });

  it('shadowSetup: the files and directories it makes', async () => {
    const [a, b] = await underUmasks(async (m) => {
      const r = join(work, `shadow-${m}`);
      await mkdir(r);
      await chmod(r, 0o755);
      await shadowSetup({ root: r, users: [{ name: 'app', uid: 1000 }] });
      return buildImage({ name: 'ndt-test/umask', tag: 't', copyToRoot: r, out: join(work, `shadow-${m}.tar`) });
    });
    expect(b.imageId).toBe(a.imageId);
  });

  it('extraCommands: what the commands create', async () => {
    const [a, b] = await underUmasks((m) =>
      buildImage({
        name: 'ndt-test/umask',
        tag: 't',
        copyToRoot: root,
        extraCommands: 'mkdir -p made/dir && echo hi > made/file',
        out: join(work, `extra-${m}.tar`),
      }),
    );
    expect(b.imageId).toBe(a.imageId);
  });

  it("buildContainer: the bundle's directory, rootfs/ and config.json (0755, 0755, 0644, as under umask 022)", async () => {
    const modes = async (bundle: string) =>
      Promise.all(['', 'rootfs', 'config.json'].map(async (p) => ((await stat(join(bundle, p))).mode & 0o7777).toString(8)));
    const [a, b] = await underUmasks(async (m) => {
      const bare = await buildContainer({ args: ['/bin/hello'], out: join(work, `bundle-${m}`), storeDir: store });
      const filled = await buildContainer({ args: ['/bin/hello'], out: join(work, `filled-${m}`), copyToRoot: root, storeDir: store });
      return [await modes(bare.path), await modes(filled.path)];
    });
    expect(a).toEqual([
      ['755', '755', '644'],
      ['755', '755', '644'],
    ]);
    expect(b).toEqual(a);
  });
});

// Same contents, same options: same image ID, wherever the contents sit.
// Plain `contents` directories must not leak their names or paths into the
// config, the history or the layer order (store paths are their own names).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, buildLayeredImage } from '../../../src/image/index.js';
import type { LayeringStrategy } from '../../../src/image/layering.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ndt-location-free-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A folder with the same files whatever it is called (same sizes for every variant, so only names could order them). */
async function folder(path: string, variant: string): Promise<string> {
  await mkdir(join(path, 'etc', variant), { recursive: true });
  await writeFile(join(path, 'etc', variant, 'greeting'), `hello ${variant}\n`);
  await symlink('greeting', join(path, 'etc', variant, 'link'));
  return path;
}

/** Two plain folders per build; the second build's are named differently, and in the opposite order of their names. */
async function twoPlaces(tag: string): Promise<[string[], string[]]> {
  const a = [await folder(join(work, tag, 'here', 'contents one'), 'p'), await folder(join(work, tag, 'here', 'contents two'), 'q')];
  const b = [
    await folder(join(work, tag, 'over', 'there', 'zz-second'), 'p'),
    await folder(join(work, tag, 'over', 'there', 'aa-first'), 'q'),
  ];
  return [a, b];
}

describe('image IDs do not depend on where plain contents sit', () => {
  for (const layering of ['popularity', 'size', 'auto'] as LayeringStrategy[]) {
    it(`buildLayeredImage, ${layering} layering: same ID, same history, same layers`, async () => {
      const [here, there] = await twoPlaces(layering);
      const build = (contents: string[], out: string) =>
        buildLayeredImage({ name: 'ndt-test/where', contents, layering, config: { Cmd: ['/bin/sh'] }, out: join(work, layering, out) });
      const r1 = await build(here, 'one.tar');
      const r2 = await build(there, 'two.tar');
      expect(r1.diffIds.length).toBeGreaterThan(2); // each folder in a layer of its own, then the customisation layer
      expect(r2.diffIds).toEqual(r1.diffIds);
      expect(r2.imageId).toBe(r1.imageId);
      expect(r2.imageTag).toBe(r1.imageTag);
      expect(r2.sha256).toBe(r1.sha256);
      const archive = await readFile(join(work, layering, 'one.tar'), 'latin1');
      for (const leak of ['contents one', 'contents two', work]) expect(archive).not.toContain(leak);
    });
  }

  it('buildImage: same ID', async () => {
    const [here, there] = await twoPlaces('build-image');
    const build = (copyToRoot: string[], out: string) =>
      buildImage({ name: 'ndt-test/where', copyToRoot, config: { Cmd: ['/bin/sh'] }, out: join(work, 'build-image', out) });
    const r1 = await build(here, 'one.tar');
    const r2 = await build(there, 'two.tar');
    expect(r2.imageId).toBe(r1.imageId);
    expect(r2.sha256).toBe(r1.sha256);
  });
});

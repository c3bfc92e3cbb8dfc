// Which image of a docker-archive holding several (docker save a b) a tag
// alone chooses: the one with that tag when only one has it; otherwise an
// error listing what the archive holds, never its first image in silence.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLayeredImage } from '../../../src/image/layered.js';
import { exportImage } from '../../../src/image/export-image.js';
import { openBaseImage } from '../../../src/image/base-image.js';
import { failure } from './failure.js';

let dir: string;
let multi: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-archive-select-'));
  // Three images in one archive, as `docker save` writes them: one manifest.json listing each.
  const x = join(dir, 'x');
  await mkdir(x);
  const manifest: unknown[] = [];
  for (const [name, tag, file] of [
    ['localhost/a', 'load1', 'one'],
    ['localhost/b', 'load2', 'two'],
    ['localhost:5000/c', 'shared', 'three'],
    ['localhost/d', 'shared', 'four'],
  ] as const) {
    const c = join(dir, `c-${file}`);
    await mkdir(c);
    await writeFile(join(c, file), file);
    await buildLayeredImage({ name, tag, contents: [c], out: join(dir, `${file}.tar`) });
    execFileSync('tar', ['-xf', join(dir, `${file}.tar`), '-C', x]);
    manifest.push(...(JSON.parse(await readFile(join(x, 'manifest.json'), 'utf8')) as unknown[]));
  }
  await writeFile(join(x, 'manifest.json'), JSON.stringify(manifest));
  multi = join(dir, 'multi.tar');
  execFileSync('tar', ['-cf', multi, '-C', x, '.']);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fromImageTag alone in a docker-archive of several images', () => {
  it('chooses the one image with that tag', async () => {
    for (const [tag, repoTag] of [
      ['load1', 'localhost/a:load1'],
      ['load2', 'localhost/b:load2'],
    ]) {
      const base = await openBaseImage(multi, { fromImageTag: tag });
      expect(base.repoTags).toEqual([repoTag]);
      await base.close();
    }
    const out = join(dir, 'rootfs.tar');
    await exportImage({ fromImage: multi, fromImageTag: 'load2', out });
    expect(execFileSync('tar', ['-tf', out], { encoding: 'utf8' })).toContain('./two');
    await rm(out);
  });

  it('refuses a tag that matches nothing, listing the tags the archive holds', async () => {
    const err = await failure(exportImage({ fromImage: multi, fromImageTag: 'nosuchtag', out: join(dir, 'no.tar') }));
    expect(err.code).toBe('base_image');
    expect(err.message).toBe(
      `base image ${multi}: no image tagged nosuchtag (the archive holds 4 images: localhost/a:load1, localhost/b:load2, localhost:5000/c:shared, localhost/d:shared)`,
    );
    const named = await failure(openBaseImage(multi, { fromImageName: 'localhost/a', fromImageTag: 'load2' }));
    expect(named.message).toContain('no image tagged localhost/a:load2 (the archive holds 4 images: localhost/a:load1,');
  });

  it('refuses a tag several images have, naming them and asking for fromImageName', async () => {
    const err = await failure(openBaseImage(multi, { fromImageTag: 'shared' }));
    expect(err.code).toBe('base_image');
    expect(err.message).toBe(
      `base image ${multi}: 2 images are tagged shared (localhost:5000/c:shared, localhost/d:shared); fromImageTag alone cannot choose`,
    );
    expect(err.hint).toBe('Add fromImageName (--from-image-name) to say which: localhost:5000/c or localhost/d.');
    const base = await openBaseImage(multi, { fromImageName: 'localhost/d', fromImageTag: 'shared' });
    expect(base.repoTags).toEqual(['localhost/d:shared']);
    await base.close();
  });
});

// It said "OCI layout DIR: index.json: missing" with the hint that the image is damaged: make it again.
describe('fromImage naming a directory that is not an OCI layout', () => {
  it('says it is not a layout and where a root file system goes', async () => {
    const rootfs = join(dir, 'rootfs');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    const err = await failure(openBaseImage(rootfs));
    expect(err).toMatchObject({
      code: 'base_image',
      message: `${rootfs} is a directory but not an OCI image layout (it has no oci-layout or index.json)`,
    });
    expect(err.hint).toMatch(/goes in contents or copyToRoot instead/);
    expect(err.hint).not.toMatch(/damaged/);
  });
});

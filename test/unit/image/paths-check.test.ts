// Input directories and the output path checked before a build starts:
// named by their option, never a bare errno on a temporary name (ENOENT
// lstat, ENOTDIR scandir, EISDIR rename '.app.tmp-...', EEXIST mkdir).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLayeredImage } from '../../../src/image/layered.js';
import { buildImage } from '../../../src/image/build-image.js';
import { buildContainer } from '../../../src/image/container.js';
import { exportImage } from '../../../src/image/export-image.js';
import { failure } from './failure.js';

let dir: string;
let app: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-paths-check-'));
  app = join(dir, 'app');
  await mkdir(join(app, 'etc'), { recursive: true });
  file = join(app, 'etc', 'hello.txt');
  await writeFile(file, 'hello\n');
});
afterAll(async () => {
  await chmod(dir, 0o755).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

const left = async () => (await readdir(dir)).filter((n) => n !== 'app').sort();

describe('input directories', () => {
  it('a path that does not exist is input_missing naming the option', async () => {
    const absent = join(dir, 'nonexistent');
    for (const [build, option] of [
      [() => buildLayeredImage({ name: 'x', contents: [absent], out: join(dir, 'o.tar') }), 'contents (--contents)'],
      [() => buildImage({ name: 'x', copyToRoot: [absent], out: join(dir, 'o.tar') }), 'copyToRoot (--copy-to-root)'],
      [() => buildContainer({ args: ['/bin/sh'], copyToRoot: [absent], out: join(dir, 'b') }), 'copyToRoot (--copy-to-root)'],
    ] as const) {
      const err = await failure(build);
      expect(err.code).toBe('input_missing');
      expect(err.message).toBe(`${option}: ${absent} does not exist`);
    }
    expect(await left()).toEqual([]);
  });

  it('a file where a directory is copied to the root says it must be a directory', async () => {
    for (const [build, option] of [
      [() => buildLayeredImage({ name: 'x', contents: [file], out: join(dir, 'o.tar') }), 'contents (--contents)'],
      [() => buildImage({ name: 'x', copyToRoot: [file], out: join(dir, 'o.tar') }), 'copyToRoot (--copy-to-root)'],
    ] as const) {
      const err = await failure(build);
      expect(err.code).toBe('image_options');
      expect(err.message).toBe(`${option}: ${file} is not a directory`);
    }
    expect(await left()).toEqual([]);
  });
});

describe('the output path', () => {
  it('an existing directory where a file is written is refused before building', async () => {
    for (const build of [
      () => buildLayeredImage({ name: 'x', contents: [app], out: app }),
      () => buildImage({ name: 'x', copyToRoot: [app], out: app }),
      () => buildLayeredImage({ name: 'x', contents: [app], out: app, format: 'oci-archive' }),
    ]) {
      const err = await failure(build);
      expect(err.code).toBe('image_options');
      expect(err.message).toBe(`out (--out): ${app} is a directory; the output is a file written in its place`);
    }
    const base = join(dir, 'base.tar');
    await buildLayeredImage({ name: 'x', contents: [app], out: base });
    const err = await failure(exportImage({ fromImage: base, out: app }));
    expect(err.message).toBe(`out (--out): ${app} is a directory; the output is a file written in its place`);
    await rm(base);
    expect(await left()).toEqual([]);
  });

  it('a path under a file is refused naming the file', async () => {
    for (const build of [
      () => buildLayeredImage({ name: 'x', contents: [app], out: join(file, 'o.tar') }),
      () => buildImage({ name: 'x', copyToRoot: [app], out: join(file, 'deeper', 'o.tar') }),
      () => buildContainer({ args: ['/bin/sh'], out: join(file, 'bundle') }),
      () => buildLayeredImage({ name: 'x', contents: [app], out: join(file, 'layout'), format: 'oci' }),
    ]) {
      const err = await failure(build);
      expect(err.code).toBe('image_options');
      expect(err.message).toMatch(new RegExp(`^out \\(--out\\): cannot write ${file}/.*: ${file} is a file, not a directory$`));
    }
    const err = await failure(buildContainer({ args: ['/bin/sh'], out: file }));
    expect(err.message).toBe(`out (--out): ${file} exists and is not a directory; the output is a directory`);
  });

  it('a missing parent directory is created, as before', async () => {
    const out = join(dir, 'new', 'sub', 'o.tar');
    await buildLayeredImage({ name: 'x', contents: [app], out });
    expect(await readdir(join(dir, 'new', 'sub'))).toEqual(['o.tar']);
    await rm(join(dir, 'new'), { recursive: true });
  });
});

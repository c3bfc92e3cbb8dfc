// A layer's names under its own symlinks (layer-paths.ts through
// flattenLayers): they go where the symlink leads within the layer, as the
// engine's chrooted unpacking puts them (compared with docker export in
// test/integration/image/export.test.ts), never outside the root; what the
// engine fails to unpack is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flattenLayers } from '../../../src/image/export-image.js';
import { writeTar, type TarEntry } from '../../../src/image/tar-writer.js';
import { writeFileAtomic } from '../../../src/image/output.js';
import { OpError } from '../../../src/errors.js';

let dir: string;
let count = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-layer-symlinks-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const o = { mode: 0o755, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size: 0 };
const d = (name: string): TarEntry => ({ ...o, name, type: 'dir' });
const f = (name: string): TarEntry => ({ ...o, name, type: 'file', mode: 0o644, size: 1, data: Buffer.from('x') });
const l = (name: string, linkname: string): TarEntry => ({ ...o, name, type: 'symlink', mode: 0o777, linkname });
const h = (name: string, linkname: string): TarEntry => ({ ...o, name, type: 'hardlink', linkname });

async function flatten(...layers: TarEntry[][]) {
  const files = [];
  for (const entries of layers) {
    const path = join(dir, `l${++count}.tar`);
    await writeFileAtomic(path, writeTar(entries));
    files.push({ path, offset: 0, size: (await stat(path)).size });
  }
  return flattenLayers(files);
}

const merged = async (...layers: TarEntry[][]) => [...(await flatten(...layers)).keys()].sort();

async function refusal(...layers: TarEntry[][]): Promise<string> {
  const err = await flatten(...layers).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpError);
  expect((err as OpError).code).toBe('base_image');
  expect((err as OpError).hint).toContain('unpacks each layer alone');
  return (err as OpError).message;
}

describe("names under a layer's own symlinks", () => {
  it('go where the symlink leads, through chains, absolute targets and ".." that stops at the root', async () => {
    expect(
      await merged(
        [f('x')],
        [
          d('b'),
          l('a', 'b'),
          f('a/file'),
          d('a/sub'),
          f('a/sub/g'),
          h('hl', 'a/file'),
          d('etc2'),
          l('abs', '/etc2'),
          f('abs/one'),
          l('up', '../../../etc2'),
          f('up/two'),
          d('c'),
          l('chain2', 'c'),
          l('chain1', 'chain2/.'),
          f('chain1/three'),
          l('deep/in', '../../b/sub'),
          f('deep/in/four'),
        ],
      ),
    ).toEqual([
      'a',
      'abs',
      'b',
      'b/file',
      'b/sub',
      'b/sub/four',
      'b/sub/g',
      'c',
      'c/three',
      'chain1',
      'chain2',
      'deep/in',
      'etc2',
      'etc2/one',
      'etc2/two',
      'hl',
      'up',
      'x',
    ]);
  });

  it('resolve hard link targets, whiteouts and opaque markers the same way', async () => {
    const state = await flatten(
      [d('b'), f('b/old'), f('b/kept'), d('e'), f('e/old')],
      [d('b'), d('e'), l('a', 'b'), f('a/.wh.old'), l('g', 'e'), f('g/.wh..wh..opq'), f('b/data'), h('hl', 'a/data')],
    );
    expect([...state.keys()].sort()).toEqual(['a', 'b', 'b/data', 'b/kept', 'e', 'g', 'hl']);
    expect(state.get('hl')?.data?.name).toBe('b/data');
  });

  it("are made directories when the symlink is a lower layer's, as the overlay shows the layer's directory over it", async () => {
    const state = await flatten([d('b'), l('a', 'b')], [f('a/file')]);
    expect([...state.keys()].sort()).toEqual(['a', 'a/file', 'b']);
    expect(state.get('a')?.entry.type).toBe('dir');
  });

  it('follow a symlink the layer replaced by a directory no more', async () => {
    expect(await merged([d('b'), l('a', 'b'), d('a'), f('a/file')])).toEqual(['a', 'a/file', 'b']);
  });

  it('are refused where the engine fails to unpack them', async () => {
    expect(await refusal([f('x')], [l('a', 'b'), f('a/file')])).toBe(
      'exportImage: layer 2 of 2: "a/file" is under symlink "a" (to "b"), which leads to nothing the same layer has ("b")',
    );
    // The unpacking sees the layer alone: a lower layer's directory is not there.
    expect(await refusal([d('b')], [l('a', 'b'), f('a/file')])).toContain('which leads to nothing the same layer has');
    expect(await refusal([f('t'), l('a', 't'), f('a/file')])).toBe(
      'exportImage: layer 1 of 1: "a/file" is under "t" (through symlink "a"), a regular file of the same layer',
    );
    expect(await refusal([l('a', 'a'), f('a/file')])).toBe('exportImage: layer 1 of 1: "a/file": more than 40 symlinks are on its path');
    expect(await refusal([d('t'), l('a', `t/${'./'.repeat(2100)}`), f('a/file')])).toBe(
      'exportImage: layer 1 of 1: "a/file": the target of symlink "a" on its path is longer than 4095 bytes',
    );
  });
});

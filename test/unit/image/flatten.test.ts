import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flattenLayers } from '../../../src/image/export-image.js';
import { writeTar, type TarEntry } from '../../../src/image/tar-writer.js';
import { writeFileAtomic } from '../../../src/image/output.js';
import { stat } from 'node:fs/promises';
import { OpError } from '../../../src/errors.js';
import { rawMember, writeRawTar } from './raw-tar.js';
import { readRange } from '../../../src/image/tar-reader.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-flatten-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const o = { mode: 0o755, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size: 0 };
const d = (name: string): TarEntry => ({ ...o, name, type: 'dir' });
const f = (name: string, text = name): TarEntry => ({ ...o, name, type: 'file', mode: 0o644, size: text.length, data: Buffer.from(text) });

async function layer(name: string, entries: TarEntry[]) {
  const path = join(dir, name);
  await writeFileAtomic(path, writeTar(entries));
  return { path, offset: 0, size: (await stat(path)).size };
}

/** A layer written byte by byte: names as given, which our writer would not write. */
async function rawLayer(name: string, parts: Buffer[]) {
  const path = await writeRawTar(join(dir, name), parts);
  return { path, offset: 0, size: (await stat(path)).size };
}

async function failure(p: Promise<unknown>): Promise<OpError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpError);
  expect((err as OpError).hint).toBeTruthy();
  return err as OpError;
}

/** The bytes a merged entry stands for (a hard link's are its target's). */
async function contents(state: Awaited<ReturnType<typeof flattenLayers>>, name: string): Promise<string> {
  const placed = state.get(name);
  if (!placed) throw new Error(`no ${name}`);
  const src = placed.data ?? placed.entry;
  const chunks: Buffer[] = [];
  for await (const c of readRange(placed.file, src.offset, src.size)) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

describe('flattenLayers', () => {
  it('applies whiteouts, opaque directories and type changes', async () => {
    const l1 = await layer('l1.tar', [d('a'), f('a/x'), f('a/y'), d('b'), f('b/z'), f('c'), d('keep'), f('keep/me')]);
    const l2 = await layer('l2.tar', [
      d('a'),
      f('a/.wh..wh..opq', ''),
      f('a/new'),
      f('.wh.b', ''),
      d('c'),
      f('c/k'),
      f('keep/.wh.absent', ''),
    ]);
    const l3 = await layer('l3.tar', [f('a/.wh.new', ''), f('a/newer')]);
    const state = await flattenLayers([l1, l2, l3]);
    expect([...state.keys()].sort()).toEqual(['a', 'a/newer', 'c', 'c/k', 'keep', 'keep/me']);
    expect(state.get('c')?.entry.type).toBe('dir');
  });

  it("keeps an opaque directory's own new entries from the same layer", async () => {
    const l1 = await layer('m1.tar', [d('x'), f('x/old')]);
    const l2 = await layer('m2.tar', [d('x'), f('x/fresh'), f('x/.wh..wh..opq', '')]);
    expect([...(await flattenLayers([l1, l2])).keys()].sort()).toEqual(['x', 'x/fresh']);
  });

  it('normalises names as the engine does: "/./etc/passwd" is "etc/passwd", "x/../.wh.etc" whites out "etc"', async () => {
    const l1 = await rawLayer('n1.tar', [rawMember({ name: 'etc/', flag: '5' }), rawMember({ name: 'etc/group', data: 'g' })]);
    const l2 = await rawLayer('n2.tar', [
      rawMember({ name: 'x/../.wh.etc' }),
      rawMember({ name: '/./etc/passwd', data: 'p' }),
      rawMember({ name: 'etc//passwd', data: 'q' }),
      rawMember({ name: './bin/./sh', data: 's' }),
    ]);
    const state = await flattenLayers([l1, l2]);
    expect([...state.keys()].sort()).toEqual(['bin/sh', 'etc/passwd']);
    expect(state.get('etc/passwd')?.entry.size).toBe(1);
  });

  it('refuses a name that leaves the root, or is empty, naming the layer and the entry', async () => {
    const l1 = await rawLayer('o1.tar', [rawMember({ name: 'ok', data: 'o' })]);
    for (const bad of ['a/../../evil', '/../evil', '..']) {
      const l2 = await rawLayer('o2.tar', [rawMember({ name: 'fine', data: 'f' }), rawMember({ name: bad, data: 'e' })]);
      const e = await failure(flattenLayers([l1, l2]));
      expect(e.code).toBe('base_image');
      expect(e.message).toContain(
        `layer 2 of 2: entry 2 (${JSON.stringify(bad.replace(/^\/+/, ''))}) names a path outside the image's root`,
      );
    }
    const l3 = await rawLayer('o3.tar', [rawMember({ name: '.', data: 'e' })]);
    expect((await failure(flattenLayers([l3]))).message).toContain('layer 1 of 1: entry 1 (".") has an empty name');
  });

  it('resolves hard links as tar -C root -c . writes them ("./x"), and a link to a link, here or in a lower layer, to the data', async () => {
    const l1 = await rawLayer('h1.tar', [
      rawMember({ name: './', flag: '5' }),
      rawMember({ name: './x', data: 'hello' }),
      rawMember({ name: './y', flag: '1', linkname: './x' }),
      rawMember({ name: './z', flag: '1', linkname: 'y' }),
    ]);
    const l2 = await rawLayer('h2.tar', [rawMember({ name: 'w', flag: '1', linkname: '/z' })]);
    const state = await flattenLayers([l1, l2]);
    for (const name of ['x', 'y', 'z', 'w']) expect([name, await contents(state, name)]).toEqual([name, 'hello']);
  });

  it('refuses a hard link to what is not a regular file, or to nothing there', async () => {
    const cases: [string, Buffer[], string][] = [
      ['dir', [rawMember({ name: 'd', flag: '5' })], 'hard link "l" points to "d", a directory, not a regular file'],
      ['symlink', [rawMember({ name: 's', flag: '2', linkname: 'x' })], 'hard link "l" points to "s", a symlink, not a regular file'],
      ['missing', [], 'hard link "l" points to "gone", which does not exist before it'],
    ];
    for (const [what, before, message] of cases) {
      const target = what === 'dir' ? 'd' : what === 'symlink' ? 's' : 'gone';
      const l = await rawLayer(`bad-link-${what}.tar`, [...before, rawMember({ name: 'l', flag: '1', linkname: target })]);
      const e = await failure(flattenLayers([l]));
      expect(e.code).toBe('base_image');
      expect(e.message).toBe(`exportImage: layer 1 of 1: ${message}`);
    }
  });

  it('drops what was under a name a non-directory takes, whether the directory was an entry or only implied by its files', async () => {
    const l1 = await layer('t1.tar', [f('implied/b'), f('implied/deep/c'), d('explicit'), f('explicit/q'), f('kept/r')]);
    const l2 = await layer('t2.tar', [f('implied'), { ...o, name: 'explicit', type: 'symlink', linkname: 'kept' }, d('kept')]);
    const state = await flattenLayers([l1, l2]);
    expect([...state.keys()].sort()).toEqual(['explicit', 'implied', 'kept', 'kept/r']);
    expect(await contents(state, 'implied')).toBe('implied');
  });

  it("makes a directory of a lower layer's non-directory that an upper entry is under, as the engine's overlay shows it", async () => {
    const l1 = await layer('p1.tar', [
      f('a'),
      { ...o, name: 'l', type: 'symlink', linkname: 'a' },
      { ...o, name: 'dev', type: 'fifo' },
      f('w'),
      f('op'),
      f('kept'),
    ]);
    const l2 = await layer('p2.tar', [f('a/b'), f('l/m/n'), f('dev/x'), f('w/.wh.gone', ''), f('op/.wh..wh..opq', ''), d('kept/sub')]);
    const state = await flattenLayers([l1, l2]);
    expect([...state.keys()].sort()).toEqual(['a', 'a/b', 'dev', 'dev/x', 'kept', 'kept/sub', 'l', 'l/m/n', 'op', 'w']);
    for (const name of ['a', 'l', 'dev', 'w', 'op', 'kept'])
      expect([name, state.get(name)?.entry]).toMatchObject([name, { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 }]);
    expect(await contents(state, 'a/b')).toBe('a/b');
  });

  it("makes a whiteout's or opaque marker's missing parents directories (root's, 0755), as the engine's unpacking does", async () => {
    const l1 = await layer('w1.tar', [f('x'), d('q'), d('q/sub'), f('q/sub/f')]);
    const l2 = await layer('w2.tar', [f('a/b/.wh.c', ''), f('m/.wh..wh..opq', ''), f('q/.wh.sub', ''), f('.wh.gone', '')]);
    const state = await flattenLayers([l1, l2]);
    expect([...state.keys()].sort()).toEqual(['a/b', 'm', 'q', 'x']);
    for (const name of ['a/b', 'm'])
      expect([name, state.get(name)?.entry]).toMatchObject([name, { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 }]);
  });

  it('refuses an entry under a non-directory of its own layer, as the engine fails to unpack it', async () => {
    const l1 = await layer('q1.tar', [f('x')]);
    const l2 = await layer('q2.tar', [f('x/ok'), f('a'), f('a/b/c')]);
    const e = await failure(flattenLayers([l1, l2]));
    expect(e.code).toBe('base_image');
    expect(e.message).toBe('exportImage: layer 2 of 2: "a/b/c" is under "a", a regular file of the same layer');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flattenLayers } from '../../../src/image/export-image.js';
import { writeTar, type TarEntry } from '../../../src/image/tar-writer.js';
import { writeFileAtomic } from '../../../src/image/output.js';
import { stat } from 'node:fs/promises';

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
});

// mergeEntries: later lists win on equal names (a file replacing a directory
// drops what was below it), every missing parent directory is added, and
// the result is sorted by name. Checked against the plain definition on
// random trees with parents left out.
import { describe, expect, it } from 'vitest';
import {
  compareNames,
  mergeEntries,
  sortedTreeEntries,
  syntheticDir,
  treeEntriesSync,
  type EntryDefaults,
} from '../../../src/image/fs-entries.js';
import type { TarEntry } from '../../../src/image/tar-writer.js';

const D: EntryDefaults = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 };

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const file = (name: string, tag: string): TarEntry => ({ name, type: 'file', mode: 0o644, size: 0, ...D, data: Buffer.from(tag) });
const dir = (name: string): TarEntry => ({ name, type: 'dir', mode: 0o755, size: 0, ...D });

/** The definition: every ancestor of every name, each checked from the top. */
function reference(lists: TarEntry[][]): TarEntry[] {
  const byName = new Map<string, TarEntry>();
  for (const list of lists)
    for (const e of list) {
      const prev = byName.get(e.name);
      byName.set(e.name, e);
      if (prev?.type === 'dir' && e.type !== 'dir') for (const k of [...byName.keys()]) if (k.startsWith(`${e.name}/`)) byName.delete(k);
    }
  for (const name of [...byName.keys()]) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!byName.has(parent)) byName.set(parent, syntheticDir(parent, D));
    }
  }
  return [...byName.values()].sort((a, b) => compareNames(a.name, b.name));
}

describe('mergeEntries', () => {
  it('adds exactly the missing parents and keeps the last entry of each name, on random trees', () => {
    const rand = rng(11);
    const segment = () => ['a', 'b', 'c', 'a-b', 'é'][Math.floor(rand() * 5)]!;
    for (let round = 0; round < 300; round++) {
      const lists: TarEntry[][] = [];
      for (let l = 0; l < 1 + Math.floor(rand() * 3); l++) {
        const list: TarEntry[] = [];
        for (let n = 0; n < Math.floor(rand() * 12); n++) {
          const name = Array.from({ length: 1 + Math.floor(rand() * 4) }, segment).join('/');
          list.push(rand() < 0.5 ? dir(name) : file(name, `${l}:${n}`));
        }
        lists.push(list);
      }
      const got = mergeEntries(lists, D);
      expect(got.map((e) => [e.name, e.type, e.data?.toString()])).toEqual(
        reference(lists).map((e) => [e.name, e.type, e.data?.toString()]),
      );
    }
  });

  it('a deep name alone gets each of its parents once, sorted', () => {
    expect(mergeEntries([[file('x/y/z/f', '1')]], D).map((e) => `${e.type} ${e.name}`)).toEqual([
      'dir x',
      'dir x/y',
      'dir x/y/z',
      'file x/y/z/f',
    ]);
  });
});

describe('sortedTreeEntries', () => {
  it('is mergeEntries of the one tree at the archive root, on a tree whose walk order is not name order', async () => {
    const { mkdtemp, mkdir, writeFile, symlink, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const root = await mkdtemp(join(tmpdir(), 'ndt-sorted-tree-'));
    try {
      // "a/..." sorts after "a-b" and "a.c" ("/" is 0x2f): a walk lists a's children right after "a".
      for (const p of ['a/b/c', 'a-b/x', 'é/ü', 'z']) await mkdir(join(root, p), { recursive: true });
      for (const p of ['a/b/c/f', 'a.c', 'a-b/y', 'a/0', 'é/ü/文件', '.hidden']) await writeFile(join(root, p), p);
      await symlink('a/0', join(root, 'a_link'));
      const walked = treeEntriesSync(root, '', D);
      expect(walked.map((e) => e.name)).not.toEqual([...walked.map((e) => e.name)].sort(compareNames));
      expect(sortedTreeEntries(root, D)).toEqual(mergeEntries([treeEntriesSync(root, '', D)], D));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('entry shapes', () => {
  it('a layer’s files, directories and links and the archive’s own files have the same fields in the same order (one shape for V8)', async () => {
    const { mkdtemp, mkdir, writeFile, symlink, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { archiveFile } = await import('../../../src/image/docker-archive.js');
    const root = await mkdtemp(join(tmpdir(), 'ndt-entry-shapes-'));
    try {
      await mkdir(join(root, 'd'));
      await writeFile(join(root, 'd/f'), 'x');
      await symlink('d/f', join(root, 'l'));
      const entries = [
        ...treeEntriesSync(root, '', D),
        syntheticDir('nix', D),
        archiveFile('manifest.json', 2, 1, { data: Buffer.from('[]') }),
      ];
      expect(new Set(entries.map((e) => e.type))).toEqual(new Set(['dir', 'file', 'symlink']));
      for (const e of entries) expect(Object.keys(e)).toEqual(Object.keys(entries[0]!));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

// Whiteouts and opaque markers in deep trees (export-image.ts's
// flattenLayers): each drops exactly the subtree under its name, directories
// only implied by the names below them included, nothing that merely shares
// a prefix ("a/b" is not under "a/b.c"), and without listing every name
// placed so far (which made 20k whiteouts over 20k names quadratic).
// Random layers are also checked against the plain definition: every name
// that starts with "dir/" goes; a whiteout's directory, when no name is
// there, becomes one (the engine makes it to put the whiteout in).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flattenLayers } from '../../../src/image/export-image.js';
import { writeTar, type TarEntry } from '../../../src/image/tar-writer.js';
import { writeFileAtomic } from '../../../src/image/output.js';

let dir: string;
let count = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-whiteouts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const o = { mode: 0o755, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, size: 0 };
const d = (name: string): TarEntry => ({ ...o, name, type: 'dir' });
const f = (name: string): TarEntry => ({ ...o, name, type: 'file', mode: 0o644, size: 1, data: Buffer.from('x') });

async function layer(entries: TarEntry[]) {
  const path = join(dir, `l${++count}.tar`);
  await writeFileAtomic(path, writeTar(entries));
  return { path, offset: 0, size: (await stat(path)).size };
}

/** The merged names of `layers`, sorted. */
async function merged(...layers: TarEntry[][]): Promise<string[]> {
  const files = [];
  for (const l of layers) files.push(await layer(l));
  return [...(await flattenLayers(files)).keys()].sort();
}

/** The definition: whiteouts first (the lower layers' names only), then the layer's entries and whiteouts' directories. */
function reference(layers: TarEntry[][]): string[] {
  const names = new Set<string>();
  const under = (p: string) => (n: string) => p === '' || n.startsWith(`${p}/`);
  for (const entries of layers) {
    for (const { name } of entries) {
      const at = name.lastIndexOf('/');
      const parent = at === -1 ? '' : name.slice(0, at);
      const base = name.slice(at + 1);
      if (base === '.wh..wh..opq') for (const n of [...names].filter(under(parent))) names.delete(n);
      else if (base.startsWith('.wh.')) {
        const gone = (parent === '' ? '' : `${parent}/`) + base.slice(4);
        for (const n of [...names].filter((n) => n === gone || under(gone)(n))) names.delete(n);
      }
    }
    for (const { name } of entries) {
      const at = name.lastIndexOf('/');
      if (!name.slice(at + 1).startsWith('.wh.')) names.add(name);
      else if (at !== -1) names.add(name.slice(0, at));
    }
  }
  return [...names].sort();
}

/** A pseudo-random generator with a fixed seed (the same layers every run). */
function random(seed: number) {
  return (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
}

describe('whiteouts in deep trees', () => {
  it('drop the subtree under their name, implied directories included, and nothing that only shares a prefix', async () => {
    const lower = ['r/a/b/c/f', 'r/a/b/c/g', 'r/a/b.c', 'r/a/bc/d/e', 'r/a/b-x/y', 'r/k/l/m/n/o/p', 'r/k/l/m/q', 'r/k/l/q', 'top'];
    expect(
      await merged(
        lower.map((n) => f(n)),
        [f('r/a/.wh.b'), f('r/k/l/m/.wh..wh..opq'), f('r/k/l/m/new'), f('r/a/b/c/again')],
      ),
    ).toEqual(['r/a', 'r/a/b-x/y', 'r/a/b.c', 'r/a/b/c/again', 'r/a/bc/d/e', 'r/k/l/m', 'r/k/l/m/new', 'r/k/l/q', 'top']);
    expect(await merged([d('r'), d('r/s'), ...lower.map((n) => f(n))], [f('.wh..wh..opq'), f('fresh')])).toEqual(['fresh']);
    expect(
      await merged(
        lower.map((n) => f(n)),
        [f('.wh.r')],
      ),
    ).toEqual(['top']);
  });

  it('agree with the definition on random layers', async () => {
    const pick = random(20_240_601);
    for (let round = 0; round < 40; round++) {
      const layers: TarEntry[][] = [];
      for (let l = 0; l < 3; l++) {
        const entries: TarEntry[] = [];
        for (let e = 0; e < 25; e++) {
          const path = Array.from({ length: pick(4) }, () => `d${pick(3)}`).join('/');
          const at = (leaf: string) => (path === '' ? leaf : `${path}/${leaf}`);
          const kind = pick(10);
          if (kind < 5) entries.push(f(at(`f${pick(3)}`)));
          else if (kind < 7 && path !== '') entries.push(d(path));
          else if (kind < 9) entries.push(f(at(`.wh.${pick(2) ? 'd' : 'f'}${pick(3)}`)));
          else entries.push(f(at('.wh..wh..opq')));
        }
        layers.push(entries);
      }
      expect(await merged(...layers), `round ${round}`).toEqual(reference(layers));
    }
  });

  it('do not list every name placed so far, once per whiteout', async () => {
    const names = Array.from({ length: 300 }, (_, i) => `dir${i % 7}/sub${i % 5}/file${i}`);
    const files = [await layer(names.map((n) => f(n))), await layer(names.map((n) => f(n.replace(/file/, '.wh.file'))))];
    const listings = new Map<object, number>();
    const methods = ['keys', 'values', 'entries', 'forEach', Symbol.iterator] as const;
    const saved = methods.map((m) => Map.prototype[m]);
    for (const [i, m] of methods.entries()) {
      const original = saved[i] as (this: Map<unknown, unknown>, ...args: unknown[]) => unknown;
      Object.defineProperty(Map.prototype, m, {
        configurable: true,
        writable: true,
        value(this: Map<unknown, unknown>, ...args: unknown[]) {
          listings.set(this, (listings.get(this) ?? 0) + 1);
          return original.apply(this, args);
        },
      });
    }
    let state: Awaited<ReturnType<typeof flattenLayers>>;
    try {
      state = await flattenLayers(files);
    } finally {
      for (const [i, m] of methods.entries())
        Object.defineProperty(Map.prototype, m, { configurable: true, writable: true, value: saved[i] });
    }
    // Only the whiteouts' directories are left (7 x 5 of them).
    expect(state.size).toBe(35);
    expect(listings.get(state) ?? 0).toBeLessThanOrEqual(1);
  });
});

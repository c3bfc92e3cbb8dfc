// Benchmarks for the image toolkit's hot paths: writing a layer tar from a
// directory tree (hash pass) and scoring a large closure graph by popularity.
// Run: npx vitest bench bench/image-layers.bench.ts
import { bench, describe, beforeAll, afterAll } from 'vitest';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure } from '../src/image/digest.js';
import { treeEntries } from '../src/image/fs-entries.js';
import { writeTar } from '../src/image/tar-writer.js';
import { referencesByPopularity, type ClosureNode } from '../src/image/popularity.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-bench-'));
  for (let d = 0; d < 40; d++) {
    await mkdir(join(dir, `d${d}`));
    for (let f = 0; f < 50; f++) await writeFile(join(dir, `d${d}`, `f${f}`), Buffer.alloc(4096 + f, d));
  }
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// A layered graph like a Nix closure: 2000 paths, each referencing a few lower ones.
const graph: ClosureNode[] = [];
for (let i = 0; i < 2000; i++) {
  const refs = [];
  for (let k = 1; k <= 4 && i + k * 7 < 2000; k++) refs.push(`/nix/store/${String(i + k * 7).padStart(32, '0')}-p`);
  graph.push({ path: `/nix/store/${String(i).padStart(32, '0')}-p`, references: refs });
}

describe('image toolkit', () => {
  bench('layer tar of 2000 files (sha256 pass)', async () => {
    await measure(writeTar(await treeEntries(dir, '', { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 })));
  });
  bench('referencesByPopularity on 2000 paths', () => {
    referencesByPopularity(graph);
  });
});

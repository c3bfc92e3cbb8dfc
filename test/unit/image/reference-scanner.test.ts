// ReferenceScanner finds what a scan of the whole file finds, however the
// file's bytes are cut into pieces, and never a path cut across two files.
import { describe, expect, it } from 'vitest';
import { ReferenceScanner } from '../../../src/image/closure.js';

const PATHS = ['/tmp/ctx/g1', '/tmp/ctx/g10', '/tmp/ctx/other', '/nix/store/' + 'a'.repeat(32) + '-hello'];

/** A deterministic pseudo-random source (the cuts must be the same on every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Random letters with the given paths between them (never overlapping). */
function fileWith(rand: () => number, size: number, inserts: string[]): Buffer {
  const filler = (n: number) => Buffer.from(Array.from({ length: n }, () => 97 + Math.floor(rand() * 26)));
  const parts = [filler(Math.floor(rand() * size))];
  for (const p of inserts) parts.push(Buffer.from(p), filler(Math.floor(rand() * size)));
  return Buffer.concat(parts);
}

function whole(buf: Buffer): string[] {
  const s = new ReferenceScanner(PATHS);
  s.bytes(buf);
  return [...s.found].sort();
}

function inPieces(buf: Buffer, rand: () => number, maxPiece: number): string[] {
  const s = new ReferenceScanner(PATHS);
  for (let off = 0; off < buf.length;) {
    const n = Math.max(1, Math.min(buf.length - off, Math.floor(rand() * maxPiece)));
    s.piece(buf.subarray(off, off + n), off, off + n === buf.length); // last as the tar writer says it
    off += n;
  }
  return [...s.found].sort();
}

describe('ReferenceScanner', () => {
  it('finds the same paths in pieces (byte by byte, small and big cuts) as in the whole file', () => {
    const rand = rng(17);
    for (let round = 0; round < 200; round++) {
      const inserts = PATHS.filter(() => rand() < 0.5);
      const file = fileWith(rand, 64 + Math.floor(rand() * 400), inserts);
      const expected = whole(file);
      expect(expected).toEqual(expect.arrayContaining(inserts));
      for (const maxPiece of [1, 3, 16, 64, 1000]) expect(inPieces(file, rand, maxPiece)).toEqual(expected);
    }
  });

  it('finds a path cut exactly between two pieces, and one cut over three', () => {
    const p = PATHS[3]!;
    const file = Buffer.concat([Buffer.from('xxxx'), Buffer.from(p), Buffer.from('yyyy')]);
    for (const cut of [5, 10, 4 + p.length - 1]) {
      const s = new ReferenceScanner(PATHS);
      s.piece(file.subarray(0, cut), 0);
      s.piece(file.subarray(cut), cut);
      expect([...s.found]).toEqual([p]);
    }
    const s = new ReferenceScanner(PATHS);
    s.piece(file.subarray(0, 8), 0);
    s.piece(file.subarray(8, 12), 8);
    s.piece(file.subarray(12), 12, true);
    expect([...s.found]).toEqual([p]);
  });

  it('scans a last piece whole, path cut into it included, and keeps nothing of it for the next file', () => {
    const p = PATHS[0]!;
    const s = new ReferenceScanner(PATHS);
    s.piece(Buffer.from(`data ${p.slice(0, 5)}`), 0);
    s.piece(Buffer.from(`${p.slice(5)} ${PATHS[2]!.slice(0, 7)}`), 10, true);
    s.piece(Buffer.from(`${PATHS[2]!.slice(7)}`), 0, true);
    expect([...s.found]).toEqual([p]);
  });

  it('does not join the end of one file with the start of the next', () => {
    const p = PATHS[2]!;
    const s = new ReferenceScanner(PATHS);
    s.piece(Buffer.from(`data ${p.slice(0, 6)}`), 0);
    s.piece(Buffer.from(`${p.slice(6)} more`), 0); // offset 0: another file
    expect([...s.found]).toEqual([]);
  });

  it('finds paths in symlink targets and leaves out the paths it was not given', () => {
    const s = new ReferenceScanner(PATHS.slice(1));
    s.bytes(Buffer.from('/tmp/ctx/g1/bin')); // g1 is not a candidate here
    s.bytes(Buffer.from('../../tmp/ctx/other/lib'));
    expect([...s.found]).toEqual(['/tmp/ctx/other']);
  });
});

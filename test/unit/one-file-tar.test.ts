// The one-file tar reader of the artifact's way back (src/engine/one-file-tar.ts)
// against archives made by GNU tar in its formats, cut into chunks at random places.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { OneFileTar } from '../../src/engine/one-file-tar.js';

const dir = mkdtempSync(join(tmpdir(), 'ndt-onefile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The file's bytes as the reader gives them, from `tar` cut at random places. */
function readCut(tar: Buffer, seed: number): { bytes: Buffer; found: boolean; size: number } {
  const r = new OneFileTar();
  const out: Buffer[] = [];
  let at = 0;
  let x = seed;
  while (at < tar.length) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (x % 3000);
    out.push(...r.push(tar.subarray(at, at + n)));
    at += n;
  }
  r.finish();
  return { bytes: Buffer.concat(out), found: r.found, size: r.size };
}

describe('OneFileTar', () => {
  const content = randomBytes(200_000 + 37);
  for (const format of ['ustar', 'pax', 'gnu']) {
    it(`takes the file out of a ${format} archive whatever the chunk cuts (long names, a directory before it)`, () => {
      const work = join(dir, format);
      const long = `${'n'.repeat(120)}.tar.gz`;
      mkdirSync(join(work, 'd'), { recursive: true });
      writeFileSync(join(work, format === 'ustar' ? 'artifact.tar.gz' : long), content);
      const name = format === 'ustar' ? 'artifact.tar.gz' : long;
      const tar = execFileSync('tar', [`--format=${format}`, '-C', work, '-cf', '-', 'd', name]);
      for (const seed of [1, 2, 3, 4, 5]) {
        const got = readCut(tar, seed);
        expect(got.found).toBe(true);
        expect(got.size).toBe(content.length);
        expect(got.bytes.equals(content)).toBe(true);
      }
    });
  }

  it('an archive cut inside the file is an error, not a short file', () => {
    writeFileSync(join(dir, 'f'), content);
    const tar = execFileSync('tar', ['-C', dir, '-cf', '-', 'f']);
    const r = new OneFileTar();
    r.push(tar.subarray(0, 100_000));
    expect(() => r.finish()).toThrow(/ended \d+ bytes before the end of the file/);
  });

  it('an archive of a directory has no file', () => {
    const tar = execFileSync('tar', ['-C', dir, '-cf', '-', 'ustar/d']);
    expect(readCut(tar, 7).found).toBe(false);
    expect(readFileSync(join(dir, 'f')).length).toBe(content.length);
  });
});

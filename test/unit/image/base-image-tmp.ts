// A test file's scratch folder for base-image tests: `dir()` for its inputs,
// and TMPDIR pointed at a fresh folder of its own for each test (where
// openBaseImage makes its ndt-base-* directory), checked empty after each
// test: no temporary directory may outlive an open or a failure.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';

export function useBaseImageTmp(prefix: string): { dir: () => string; tmp: () => string } {
  let dir: string;
  let tmp: string;
  const savedTmp = process.env.TMPDIR;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    process.env.TMPDIR = savedTmp;
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    tmp = await mkdtemp(join(dir, 'tmp-'));
    process.env.TMPDIR = tmp;
  });
  afterEach(async () => {
    expect(await readdir(tmp)).toEqual([]);
  });
  return { dir: () => dir, tmp: () => tmp };
}

// A StreamedImage that is closed without being read (the engine refused the
// connection before reading it, the caller gave up) removes its scratch
// directory and rejects `done`: a generator never started runs no finally.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamLayeredImage } from '../../../src/image/index.js';

let work: string;
let scratchParent: string;
const savedTmp = process.env.TMPDIR;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ndt-unread-'));
  scratchParent = join(work, 'tmp');
  await mkdir(scratchParent);
  await mkdir(join(work, 'app', 'etc'), { recursive: true });
  await writeFile(join(work, 'app', 'etc', 'hello'), 'hello\n');
  process.env.TMPDIR = scratchParent; // where streamLayeredImage makes its scratch directory
});
afterAll(async () => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  await rm(work, { recursive: true, force: true });
});

async function untilEmpty(dir: string): Promise<string[]> {
  for (let i = 0; i < 100 && (await readdir(dir)).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return readdir(dir);
}

describe('streamLayeredImage, stream closed unread', () => {
  it('removes its scratch directory and rejects done', async () => {
    const s = await streamLayeredImage({ name: 'ndt-test/unread', contents: [join(work, 'app')], extraCommands: 'mkdir -p tmp' });
    expect((await readdir(scratchParent)).length).toBe(1);
    s.stream.destroy();
    await expect(s.done).rejects.toThrow(/closed before its end/);
    expect(await untilEmpty(scratchParent)).toEqual([]);
  });

  it('read to the end, it resolves done and removes it too', async () => {
    const s = await streamLayeredImage({ name: 'ndt-test/unread', contents: [join(work, 'app')] });
    let bytes = 0;
    for await (const c of s.stream) bytes += (c as Buffer).length;
    expect(bytes).toBeGreaterThan(0);
    expect((await s.done).imageId).toBe(s.imageId);
    expect(await untilEmpty(scratchParent)).toEqual([]);
  });
});

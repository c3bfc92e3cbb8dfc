// Links inside an image archive (docker save's shared layer.tar) are followed
// within the archive only: a link that leaves it, or points at nothing, is
// refused with base_image and a hint, never read from the host.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBaseImage } from '../../../src/image/base-image.js';
import { writeTar, type TarEntry } from '../../../src/image/tar-writer.js';
import { sha256 } from '../../../src/image/digest.js';
import { OpError } from '../../../src/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-archive-links-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const owner = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 };
const file = (name: string, data: Buffer): TarEntry => ({ name, type: 'file', mode: 0o644, size: data.length, data, ...owner });
const link = (name: string, linkname: string, type: 'symlink' | 'hardlink' = 'symlink'): TarEntry => ({
  name,
  type,
  mode: 0o777,
  size: 0,
  linkname,
  ...owner,
});

/** A docker-archive of one image with two identical (empty) layers, the second given by `second`. */
async function archiveWith(name: string, second: TarEntry[]): Promise<string> {
  const empty = Buffer.alloc(1024);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [sha256(empty), sha256(empty)] },
    }),
  );
  const manifest = Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['x:y'], Layers: ['one/layer.tar', 'two/layer.tar'] }]));
  const path = join(dir, name);
  const chunks: Buffer[] = [];
  for await (const c of writeTar([file('c.json', config), file('manifest.json', manifest), file('one/layer.tar', empty), ...second]))
    chunks.push(c);
  await writeFile(path, Buffer.concat(chunks));
  return path;
}

async function refusal(path: string): Promise<OpError> {
  const err = await openBaseImage(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpError);
  expect((err as OpError).code).toBe('base_image');
  expect((err as OpError).hint).toMatch(/same archive/);
  return err as OpError;
}

describe('links in an image archive', () => {
  it('follows a relative symlink and a hard link to another member', async () => {
    for (const [n, entries] of [
      ['sym.tar', [link('two/layer.tar', '../one/layer.tar')]],
      ['hard.tar', [link('two/layer.tar', 'one/layer.tar', 'hardlink')]],
    ] as const) {
      const base = await openBaseImage(await archiveWith(n, [...entries]));
      expect(base.layers.map((l) => l.size)).toEqual([1024, 1024]);
      await base.close();
    }
  });

  it('refuses links that leave the archive or point at nothing', async () => {
    const outside = await refusal(await archiveWith('up.tar', [link('two/layer.tar', '../../../etc/passwd')]));
    expect(outside.message).toContain('outside the archive');
    await refusal(await archiveWith('abs.tar', [link('two/layer.tar', '/etc/passwd')]));
    const missing = await refusal(await archiveWith('gone.tar', [link('two/layer.tar', '../three/layer.tar')]));
    expect(missing.message).toContain('does not hold');
    const loop = await refusal(await archiveWith('loop.tar', [link('two/layer.tar', '../two/layer.tar')]));
    expect(loop.message).toContain('chain of more than');
  });
});

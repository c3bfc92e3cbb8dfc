// The artifact's way back through the Engine API checks its bytes against the
// sha256 that make system's step wrote beside it in the container
// (src/runner/job/artifact/archive.ts, digest.ts); the example image has no
// sha256sum, so here the digest file is put into a created container by hand.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTar, type TarEntry } from '../../src/image/tar-writer.js';
import { copyArtifactOut } from '../../src/runner/job/artifact/archive.js';
import { readDigest } from '../../src/runner/job/artifact/digest.js';
import { docker, NEW_TAG, requireEngine } from './helpers/example.js';

const content = randomBytes(3 << 20);
const good = createHash('sha256').update(content).digest('hex');

function file(name: string, data: Buffer): TarEntry {
  return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, size: data.length, data };
}

async function put(container: Docker.Container, entries: TarEntry[]): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of writeTar(entries)) chunks.push(c);
  await container.putArchive(Buffer.concat(chunks), { path: '/tmp' });
}

describe('the artifact checked by its sha256 on the way back (real engine)', () => {
  let container: Docker.Container;
  const dir = mkdtempSync(join(tmpdir(), 'ndt-digest-'));

  beforeAll(async () => {
    await requireEngine();
    container = await docker.createContainer({ Image: NEW_TAG, Cmd: ['true'] }); // created, never started: the archive API works
  });

  afterAll(async () => {
    await container?.remove({ force: true }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('the digest written by sha256sum is read back; bytes that match are kept', async () => {
    await put(container, [file('art.tar.gz', content), file('art.tar.gz.sha256', Buffer.from(`${good}  /tmp/art.tar.gz\n`))]);
    expect(await readDigest(container, '/tmp/art.tar.gz')).toBe(good);
    const dest = join(dir, 'ok.tar.gz');
    expect(await copyArtifactOut(container, '/tmp/art.tar.gz', dest, { verify: true })).toBe(content.length);
    expect(readFileSync(dest).equals(content)).toBe(true);
  });

  it('bytes that do not match the container digest: artifact_corrupt, and no file under the name', async () => {
    await put(container, [file('art.tar.gz.sha256', Buffer.from(`${'0'.repeat(64)}  /tmp/art.tar.gz\n`))]);
    const dest = join(dir, 'bad.tar.gz');
    const err = await copyArtifactOut(container, '/tmp/art.tar.gz', dest, { verify: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'artifact_corrupt' });
    expect(existsSync(dest)).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('bad.tar.gz'))).toEqual([]);
  });

  it('no digest beside the artifact (an image without sha256sum), or a directory there: nothing to check against', async () => {
    expect(await readDigest(container, '/tmp/none')).toBeNull();
    expect(await readDigest(container, '/')).toBeNull(); // "/.sha256" does not exist
    // A directory holding a file that looks like a digest: the directory is not the file asked for.
    await put(container, [
      { ...file('d.sha256', Buffer.alloc(0)), type: 'dir', mode: 0o755 },
      file('d.sha256/x', Buffer.from(`${good}  x\n`)),
    ]);
    expect(await readDigest(container, '/tmp/d')).toBeNull();
  });
});

// The input sync's upload (putEntries) into a created container on the real
// engine: a host file that changes while it is sent fails the sync with what
// to do about the sync, not the image toolkit's words.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putEntries } from '../../src/runner/job/inputs/sync/send.js';
import { tarEntry, type TarEntry } from '../../src/image/tar-header.js';
import { docker, NEW_TAG, requireEngine } from './helpers/example.js';
import { ensureExampleImages } from './helpers/images.js';

describe('input sync upload (real engine)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndt-send-'));
  let container: Docker.Container;

  beforeAll(async () => {
    await requireEngine();
    await ensureExampleImages([NEW_TAG]);
    container = await docker.createContainer({ Image: NEW_TAG, Cmd: ['true'], Labels: { 'ndt-test': 'inputs-send' } });
  });

  afterAll(async () => {
    await container?.remove({ force: true }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('a file that shrank after it was listed fails as inputs_changed with a hint about the build, not an image', async () => {
    const file = join(dir, 'Config.in');
    writeFileSync(file, 'short');
    // Listed when it was 4096 bytes long; it holds 5 when it is read.
    const entry: TarEntry = {
      ...tarEntry('pkg/Config.in', 'file', 0o644, 4096, { uid: 0, gid: 0, uname: '', gname: '' }, 1),
      hostPath: file,
    };
    async function* entries(): AsyncGenerator<TarEntry> {
      yield entry;
    }
    const err = await putEntries(container, '/tmp/pkg', dir, entries()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'inputs_changed', message: expect.stringContaining(file) });
    expect((err as { hint: string }).hint).toMatch(/Run the build again/);
    expect((err as { hint: string }).hint).not.toMatch(/image/);
  });
});

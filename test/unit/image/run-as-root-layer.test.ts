// runAsRoot's changes: the committed layer the engine saves, rewritten by
// normaliseLayerFile. Its names are read as exportImage reads a layer's
// (layer-entries.ts): normalised, and refused when they leave the root; its
// hard links become files with their target's data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normaliseLayerFile } from '../../../src/image/run-as-root.js';
import { OpError } from '../../../src/errors.js';
import { rawMember, writeRawTar } from './raw-tar.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-run-as-root-layer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('normaliseLayerFile', () => {
  it('normalises names: "/./etc/passwd" is "etc/passwd"', async () => {
    const p = await writeRawTar(join(dir, 'names.tar'), [
      rawMember({ name: '/./etc/passwd', data: 'p' }),
      rawMember({ name: 'bin//sh', data: 's' }),
    ]);
    expect((await normaliseLayerFile(p, 1)).map((e) => e.name)).toEqual(['bin/sh', 'etc/passwd']);
  });

  it('refuses a name that leaves the root, naming the entry', async () => {
    const p = await writeRawTar(join(dir, 'evil.tar'), [rawMember({ name: 'a/../../evil', data: 'e' })]);
    const err = await normaliseLayerFile(p, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).code).toBe('engine_answer');
    expect((err as OpError).message).toBe(`runAsRoot layer: entry 1 ("a/../../evil") names a path outside the image's root`);
  });

  it('gives a hard link its target\'s data: "./x" as tar -C root -c . writes it, and through a link to a link', async () => {
    const p = await writeRawTar(join(dir, 'links.tar'), [
      rawMember({ name: './x', data: 'hello' }),
      rawMember({ name: './y', flag: '1', linkname: './x' }),
      rawMember({ name: './z', flag: '1', linkname: 'y' }),
    ]);
    const out = await normaliseLayerFile(p, 1);
    const text = async (stream: (() => AsyncIterable<Buffer>) | undefined) => {
      const chunks: Buffer[] = [];
      for await (const c of stream!()) chunks.push(c);
      return Buffer.concat(chunks).toString();
    };
    expect(out.map((e) => [e.name, e.type, e.size])).toEqual([
      ['x', 'file', 5],
      ['y', 'file', 5],
      ['z', 'file', 5],
    ]);
    for (const e of out) expect(await text(e.stream)).toBe('hello');
  });

  it('refuses a hard link to a directory', async () => {
    const p = await writeRawTar(join(dir, 'dir-link.tar'), [
      rawMember({ name: 'd', flag: '5' }),
      rawMember({ name: 'l', flag: '1', linkname: 'd' }),
    ]);
    const err = await normaliseLayerFile(p, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).message).toBe('runAsRoot layer: hard link "l" points to "d", a directory, not a regular file');
  });
});

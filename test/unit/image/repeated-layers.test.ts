// A base image whose manifest.json lists one gzipped layer member many
// times (base-image.ts): the member is decompressed and hashed once, every
// reference using that one file, and more layers than an image may have
// (MAX_LAYERS_LIMIT) are refused before any layer is opened.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openBaseImage } from '../../../src/image/base-image.js';
import { MAX_LAYERS_LIMIT } from '../../../src/image/layering.js';
import { tarEntry } from '../../../src/image/tar-header.js';
import { writeTar, type TarEntry } from '../../../src/image/tar-writer.js';
import { OpError } from '../../../src/errors.js';
import { useBaseImageTmp } from './base-image-tmp.js';

const scratch = useBaseImageTmp('ndt-repeated-layers-');

const ROOT = { uid: 0, gid: 0, uname: 'root', gname: 'root' };
const file = (name: string, data: Buffer): TarEntry => ({ ...tarEntry(name, 'file', 0o644, data.length, ROOT, 1), data });
async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of writeTar(entries)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** A docker-archive whose one image lists the member `l/layer.tar` (a gzipped layer; left out with withLayer false) `times` times. */
async function repeated(name: string, times: number, withLayer = true): Promise<string> {
  const layer = await tarOf([file('f', Buffer.alloc(64 * 1024, 'x'))]);
  const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: Array(times).fill(diffId) } }));
  const manifest = Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['x:y'], Layers: Array(times).fill('l/layer.tar') }]));
  const p = join(scratch.dir(), name);
  await writeFile(
    p,
    await tarOf([...(withLayer ? [file('l/layer.tar', gzipSync(layer))] : []), file('c.json', config), file('manifest.json', manifest)]),
  );
  return p;
}

describe('layers listed more than once', () => {
  it('decompresses a repeated gzipped member once, every reference reading that one file', async () => {
    const img = await openBaseImage(await repeated('three.tar', 3));
    try {
      expect(img.layers).toHaveLength(3);
      expect(new Set(img.layers.map((l) => l.diffId)).size).toBe(1);
      const [base] = await readdir(scratch.tmp());
      expect(await readdir(join(scratch.tmp(), base!))).toHaveLength(1);
      expect(new Set(img.layerFiles.map((f) => f.path)).size).toBe(1);
    } finally {
      await img.close();
    }
  });

  it(`refuses more than ${MAX_LAYERS_LIMIT} layers before opening any`, async () => {
    for (const withLayer of [true, false]) {
      // Without the member, a reader that opened layers first would say it is missing.
      const p = await repeated(`many-${withLayer}.tar`, MAX_LAYERS_LIMIT + 1, withLayer);
      const err = await openBaseImage(p).then(
        async (img) => img.close(),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(OpError);
      expect(err).toMatchObject({ code: 'base_image' });
      expect((err as OpError).message).toBe(
        `base image ${p}: ${MAX_LAYERS_LIMIT + 1} layers, more than the ${MAX_LAYERS_LIMIT} an image may have`,
      );
    }
  });
});

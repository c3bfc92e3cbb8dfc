// streamLayeredImage's one-pass plan: plain directories are written in the
// order given, scanned for each other's paths as they are written, and the
// manifest (last) puts them in popularity order: the same image as
// buildLayeredImage, which scans the whole closure before writing anything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { buildLayeredImage, streamLayeredImage } from '../../../src/image/index.js';
import { readRange, readTarFile, readTarMember, type TarReadEntry } from '../../../src/image/tar-reader.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ndt-scan-order-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Three folders: a's file names c, c's symlink names b, b's big file (over one tar chunk) names nothing; d alone. */
async function folders(where: string): Promise<string[]> {
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => join(work, where, n));
  for (const dir of [a, b, c, d]) await mkdir(join(dir!, 'etc'), { recursive: true });
  await writeFile(join(a!, 'etc', 'conf'), `PATH=${c}/bin\n`);
  await symlink(`${b}/lib/thing`, join(c!, 'etc', 'link'));
  const big = Buffer.alloc(3 * 1024 * 1024 + 123, 'x');
  Buffer.from(`ref ${c} `).copy(big, 2 * 1024 * 1024 - 5);
  await writeFile(join(b!, 'etc', 'big'), big);
  await writeFile(join(d!, 'etc', 'alone'), 'nothing here\n');
  return [a!, b!, c!, d!];
}

async function sha256Of(file: string, e: TarReadEntry): Promise<string> {
  const h = createHash('sha256');
  for await (const c of readRange(file, e.offset, e.size)) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

describe('streamLayeredImage, plain directories only', () => {
  it('writes the layers as given and orders them by popularity in the config and manifest, as buildLayeredImage does', async () => {
    const contents = await folders('first');
    // A store directory that does not exist: the scan can only find the folders' paths.
    const opts = { name: 'ndt-test/scan-order', contents, config: { Cmd: ['/bin/sh'] }, storeDir: join(work, 'no-store') };
    const built = await buildLayeredImage({ ...opts, out: join(work, 'built.tar') });
    const s = await streamLayeredImage(opts);
    const file = join(work, 'streamed.tar');
    await pipeline(s.stream, createWriteStream(file));
    expect(s.imageId).toBe(built.imageId);
    expect(s.diffIds).toEqual(built.diffIds);
    expect(s.imageTag).toBe(built.imageTag);

    const members = new Map<string, TarReadEntry>();
    for await (const e of readTarFile(file)) members.set(e.name, e);
    const manifest = JSON.parse((await readTarMember(file, members.get('manifest.json')!)).toString()) as [{ Layers: string[] }];
    const layers = manifest[0].Layers;
    // Written in the order given (a b c d, then the customisation layer), listed in the image's order.
    expect([...members.keys()].slice(0, 5)).toEqual(['000/layer.tar', '001/layer.tar', '002/layer.tar', '003/layer.tar', '004/layer.tar']);
    expect(layers).not.toEqual([...layers].sort());
    expect(layers.at(-1)).toBe('004/layer.tar');
    const digests = [];
    for (const name of layers) digests.push(await sha256Of(file, members.get(name)!));
    expect(digests).toEqual(built.diffIds);
  });

  it('gives the same image when the folders are given in another order', async () => {
    const contents = await folders('second');
    const opts = { name: 'ndt-test/scan-order', config: { Cmd: ['/bin/sh'] }, storeDir: join(work, 'no-store') };
    const one = await streamLayeredImage({ ...opts, contents });
    await pipeline(one.stream, createWriteStream(join(work, 'one.tar')));
    const reversed = [...contents].reverse();
    const built = await buildLayeredImage({ ...opts, contents: reversed, out: join(work, 'reversed-built.tar') });
    const two = await streamLayeredImage({ ...opts, contents: reversed });
    await pipeline(two.stream, createWriteStream(join(work, 'two.tar')));
    expect(two.imageId).toBe(built.imageId);
    expect(two.diffIds).toEqual(built.diffIds);
  });
});

// Docker-archives made from layers written entry by entry, in the order
// given (whiteouts, a symlink and then names under it, parents left out):
// what the builders never write, for comparing exportImage with the engine.
import { createHash } from 'node:crypto';
import { writeTar, type TarEntry } from '../../../src/image/tar-writer.js';
import { writeFileAtomic } from '../../../src/image/output.js';
import { goArch } from '../../../src/image/config.js';

const o = { mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1, size: 0 };

/** A directory entry (mode 0755 unless given). */
export const dir = (name: string, extra: Partial<TarEntry> = {}): TarEntry => ({ ...o, mode: 0o755, name, type: 'dir', ...extra });
/** A regular file holding `text` (its name unless given). */
export const file = (name: string, text = name): TarEntry => ({
  ...o,
  name,
  type: 'file',
  size: Buffer.byteLength(text),
  data: Buffer.from(text),
});
/** A symlink (mode 0777, as the kernel shows every symlink). */
export const link = (name: string, target: string): TarEntry => ({ ...o, mode: 0o777, name, type: 'symlink', linkname: target });
/** A hard link to `target`. */
export const hardLink = (name: string, target: string): TarEntry => ({ ...o, name, type: 'hardlink', linkname: target });
/** A whiteout or opaque marker: an empty file. */
export const marker = (name: string): TarEntry => file(name, '');

async function bytes(entries: TarEntry[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of writeTar(entries)) out.push(Buffer.from(b));
  return Buffer.concat(out);
}

/** Writes a docker-archive of `layers` (bottom first; entries, or a layer's tar as it is), tagged `tag`, to `path`. */
export async function writeHandmadeImage(path: string, tag: string, layers: Array<TarEntry[] | Buffer>): Promise<void> {
  const tars = await Promise.all(layers.map((l) => (Buffer.isBuffer(l) ? l : bytes(l))));
  const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const diffIds = tars.map(hex);
  const config = Buffer.from(
    JSON.stringify({
      architecture: goArch(),
      os: 'linux',
      config: { Cmd: ['/none'] },
      rootfs: { type: 'layers', diff_ids: diffIds.map((d) => `sha256:${d}`) },
    }),
  );
  const configName = `${hex(config)}.json`;
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: diffIds.map((d) => `${d}/layer.tar`) }]));
  const member = (name: string, data: Buffer): TarEntry => ({ ...o, name, type: 'file', size: data.length, data });
  const members = [
    ...tars.map((t, i) => member(`${diffIds[i]}/layer.tar`, t)),
    member(configName, config),
    member('manifest.json', manifest),
  ];
  await writeFileAtomic(path, writeTar(members));
}

// The entries of one layer tar, named as the engine names them when it
// unpacks the layer (exportImage's flattening, runAsRoot's changes): each
// name and hard link target normalised ("/./etc/passwd" and "etc//passwd"
// are "etc/passwd", "x/../.wh.etc" is ".wh.etc"), and one that is empty or
// leaves the root ("a/../../evil") refused, as the engine refuses it,
// instead of being merged or written at the wrong place.
import { posix } from 'node:path';
import { readTarFile, type TarReadEntry } from './tar-reader.js';
import type { OpError } from '../errors.js';

/** `name` relative to the layer's root, normalised: '' for the root itself, undefined when it leaves the root. */
function layerPath(name: string): string | undefined {
  const norm = posix.normalize(name.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (norm === '..' || norm.startsWith('../')) return undefined;
  return norm === '.' ? '' : norm;
}

/**
 * The entries of the layer tar `file`, names and hard link targets
 * normalised (layerPath), the root directory left out. An entry whose name
 * or hard link target is empty or leaves the root is refused with
 * `refuse(problem)`, the problem naming the entry.
 */
export async function readLayerEntries(file: string, refuse: (problem: string) => OpError): Promise<TarReadEntry[]> {
  const out: TarReadEntry[] = [];
  let index = 0;
  for await (const e of readTarFile(file)) {
    index++;
    const name = layerPath(e.name);
    if (name === '' && e.type === 'dir') continue;
    if (name === undefined || name === '')
      throw refuse(
        `entry ${index} (${JSON.stringify(e.name)}) ${name === undefined ? "names a path outside the image's root" : 'has an empty name'}`,
      );
    e.name = name;
    if (e.type === 'hardlink') {
      // A hard link's target is named from the root as its name is ("./x" as `tar -C root -c .` writes it).
      const target = layerPath(e.linkname);
      if (target === undefined || target === '')
        throw refuse(
          `entry ${index} (${JSON.stringify(e.name)}) is a hard link to ${JSON.stringify(e.linkname)}, ${target === undefined ? "outside the image's root" : 'the root'}`,
        );
      e.linkname = target;
    }
    out.push(e);
  }
  return out;
}

const TYPE_NAMES: Record<TarReadEntry['type'], string> = {
  file: 'a regular file',
  hardlink: 'a hard link',
  symlink: 'a symlink',
  char: 'a character device',
  block: 'a block device',
  dir: 'a directory',
  fifo: 'a fifo',
  other: 'an entry of an unknown type',
};

/** "a regular file", "a symlink", ... for messages. */
export function typeName(type: TarReadEntry['type']): string {
  return TYPE_NAMES[type];
}

/**
 * The regular file whose data the hard link `link` shares, given what its
 * target's name holds so far in the layers' order (`target`, a link there
 * already resolved to its data); anything else is refused with `refuse`.
 */
export function hardLinkData(link: TarReadEntry, target: TarReadEntry | undefined, refuse: (problem: string) => OpError): TarReadEntry {
  const what = `hard link ${JSON.stringify(link.name)} points to ${JSON.stringify(link.linkname)}`;
  if (!target) throw refuse(`${what}, which does not exist before it`);
  if (target.type !== 'file') throw refuse(`${what}, ${TYPE_NAMES[target.type]}, not a regular file`);
  return target;
}

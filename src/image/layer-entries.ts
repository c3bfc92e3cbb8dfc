// The entries of one layer tar, named as the engine names them when it
// unpacks the layer (exportImage's flattening, runAsRoot's changes): each
// name normalised ("/./etc/passwd" and "etc//passwd" are "etc/passwd",
// "x/../.wh.etc" is ".wh.etc"), and one that is empty or leaves the root
// ("a/../../evil") refused, as the engine refuses it, instead of being
// merged or written at the wrong place.
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
 * The entries of the layer tar `file`, names normalised (layerPath), the
 * root directory left out. An entry whose name is empty or leaves the root
 * is refused with `refuse(problem)`, the problem naming the entry.
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
    out.push(e);
  }
  return out;
}

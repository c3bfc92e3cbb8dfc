// streamLayeredImage's one-pass plan, when the closure is exactly the plain
// directories given: each directory's layer is listed when the stream reaches
// it, and its bytes (files and symlink targets) go to a ReferenceScanner as
// they are written, so that each file is read once, for the layer and for
// the closure scan (what scanClosure would find in it, owners file
// included). The popularity order, which needs every scan, comes with the
// config and manifest, last.
import { lstatSync, readFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AssembleInput } from './assemble.js';
import { ReferenceScanner, searchesStore } from './closure.js';
import { sortedTreeEntries, type EntryDefaults } from './fs-entries.js';
import { linkTarget } from './host-names.js';
import { entriesLayer, type Layer } from './layer.js';
import type { Gathered } from './gather.js';
import { groupLayers } from './layering.js';
import { OWNERS_FILE } from './owners-file.js';
import { denied } from './unreadable.js';
import { packageName, referencesByPopularity } from './popularity.js';
import { END_OF_ARCHIVE, entryTarSize, writeTar, type TarEntry } from './tar-writer.js';

async function isDirectory(p: string): Promise<boolean> {
  return lstat(p).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

/**
 * The one-pass plan of streamLayeredImage, when the closure is exactly the
 * plain directories given: no graph given, no store on this machine and no
 * root in one (so scanning can find nothing else), a layer for each of them,
 * popularity layering, no fakeRootCommands. Each directory's layer is listed
 * when the stream reaches it and its bytes are scanned for the others' paths
 * as they are written (each file read once, for both); the popularity order,
 * which needs every scan, is known when the config and manifest, which come
 * last, are written. The same layers, order and image ID as plan(). Null
 * when it does not apply.
 */
export async function planInScanOrder(g: Gathered): Promise<{ input: AssembleInput; order(): number[] } | null> {
  const { opts, roots } = g;
  if (opts.closureGraph !== undefined || (opts.layering ?? 'popularity') !== 'popularity' || opts.fakeRootCommands) return null;
  if (roots.length === 0 || roots.length > g.available || (await searchesStore(roots, g.storeDir))) return null;
  for (const r of roots) if (!(await isDirectory(r))) return null;
  const scanners = roots.map((r) => new ReferenceScanner(roots.filter((k) => k !== r)));
  const layers = roots.map((r, i) => scannedDirLayer(r, `store paths: ${g.plain.nameOf(r)}`, g.d, scanners[i]!));
  layers.push(entriesLayer(g.customisation, 'customisation layer'));
  const order = (): number[] => {
    const graph = g.plain.rename(roots.map((r, i) => ({ path: r, references: [...scanners[i]!.found].sort() })));
    const ordered = referencesByPopularity(graph, (p) => g.plain.sortKey.get(p) ?? packageName(p));
    const at = new Map(graph.map((n, i) => [n.path, i]));
    const groups = groupLayers(ordered, g.available, 'popularity');
    if (groups.length !== roots.length || groups.some((grp) => grp.length !== 1))
      throw new Error(`streamLayeredImage: ${roots.length} directories did not get a layer each (${groups.length} groups)`);
    const baseCount = g.common.base?.layers.length ?? 0;
    return [
      ...Array.from({ length: baseCount }, (_, i) => i),
      ...groups.map((grp) => baseCount + at.get(grp[0]!)!),
      baseCount + layers.length - 1,
    ];
  };
  return { input: { ...g.common, ...(opts.tag !== undefined ? { tag: opts.tag } : {}), layers }, order };
}

function scannedDirLayer(dir: string, comment: string, d: EntryDefaults, scanner: ReferenceScanner): Layer {
  let entries: TarEntry[] | undefined;
  // The layer's tar size, counted while listing (one pass over its thousands of entries, not two).
  let size = END_OF_ARCHIVE.length;
  const onData = (piece: Buffer, offset: number, last: boolean) => scanner.piece(piece, offset, last);
  const list = (): TarEntry[] => {
    if (entries) return entries;
    scanOwnersFile(dir, scanner);
    entries = sortedTreeEntries(dir, d);
    for (const e of entries) {
      size += entryTarSize(e);
      if (e.type === 'symlink') scanner.bytes(Buffer.from(e.linkname ?? ''));
      else if (e.type === 'file' && e.hostPath !== undefined) e.onData = onData;
    }
    return entries;
  };
  return {
    open: (opts) => writeTar(list(), opts),
    comment,
    tarSize: () => {
      list();
      return size;
    },
  };
}

/** The owners file is no entry of the layer, but the closure scan reads it as it reads every file. */
function scanOwnersFile(dir: string, scanner: ReferenceScanner): void {
  const file = join(dir, OWNERS_FILE);
  let st;
  try {
    st = lstatSync(file);
  } catch {
    return;
  }
  if (st.isSymbolicLink()) scanner.bytes(Buffer.from(linkTarget(file)));
  else if (st.isFile()) scanner.bytes(denied(() => readFileSync(file), file, 'read'));
}

// exportImage: flatten an image archive into one root filesystem tar, as the
// engine's overlay would show it: whiteouts (.wh.NAME) and opaque markers
// (.wh..wh..opq) hide lower layers, an upper layer's parent directories hide
// a lower non-directory at their name (a whiteout's too, which also makes
// its missing parents), hard links become regular files. No
// VM, no engine. Entries come out sorted by name, named "./bin/sh" as
// nixpkgs' exportImage names them, after the root "./".
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBaseImage } from './base-image.js';
import { compareNames } from './fs-entries.js';
import { readRange, type TarReadEntry } from './tar-reader.js';
import { hardLinkData, readLayerEntries } from './layer-entries.js';
import { writeTar, type TarEntry } from './tar-writer.js';
import { writeFileAtomic } from './output.js';
import { checkOutputPath } from './check-paths.js';
import { gzipStream } from './gzip.js';
import { NameTree } from './name-tree.js';
import { LayerPaths } from './layer-paths.js';
import { parseCreated } from './time.js';
import { OpError } from '../errors.js';

export interface ExportImageOptions {
  /** Image to flatten: docker-archive file (gzip allowed) or OCI layout directory. */
  fromImage: string;
  fromImageName?: string;
  fromImageTag?: string;
  /** Platform chosen through an OCI image index (default linux and this machine's architecture). */
  os?: string;
  architecture?: string;
  /** Root filesystem tar to write. */
  out: string;
  compress?: 'none' | 'gzip';
  /** When set, every entry's mtime becomes this time; otherwise mtimes are kept. */
  created?: string;
}

export interface ExportResult {
  path: string;
  sha256: string;
  entries: number;
}

interface Placed {
  entry: TarReadEntry;
  file: string;
  data?: TarReadEntry; // for hard links: where the bytes are
}

const NAMES_HINT =
  "The engine refuses such a layer too: make the image again with a tool that names a layer's files inside its root (docker build, nix, tar -C root -c .).";
const LINKS_HINT = "The image's layers are damaged: make the image again.";
const PARENT_HINT =
  'The engine fails to unpack such a layer too: it unpacks each layer alone, where a file cannot hold other files and a symlink leads only to what the same layer has. Make the image again with the directory itself in that layer.';

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Makes the parents of `name` (resolved in its layer: LayerPaths) directories
 * as the engine does. It unpacks a layer into a directory of its own, making
 * the parents each entry needs (moby's UnpackLayer, containerd's mkparent),
 * and the overlay shows such a directory over what a lower layer has at its
 * name: a lower file, symlink or device there gives way to an implied
 * directory. (One of the same layer is a directory: LayerPaths saw to it.)
 */
function makeParents(state: NameTree<Placed>, name: string): void {
  for (let at = name.indexOf('/'); at !== -1; at = name.indexOf('/', at + 1)) {
    const parent = name.slice(0, at);
    const placed = state.map.get(parent);
    if (placed && placed.entry.type !== 'dir') state.set(parent, impliedDir(parent));
  }
}

/** The merged view of the layers: name -> entry. */
export async function flattenLayers(files: { path: string; offset: number; size: number }[]): Promise<Map<string, Placed>> {
  // Names indexed by their parent: a whiteout walks only the subtree it drops.
  const state = new NameTree<Placed>();
  for (const [i, f] of files.entries()) {
    const layerFile = f.offset === 0 ? f.path : undefined;
    if (!layerFile) throw new Error('exportImage: layer must be a separate file');
    const refuse = (hint: string) => (problem: string) =>
      new OpError('base_image', `exportImage: layer ${i + 1} of ${files.length}: ${problem}`, hint);
    const entries = await readLayerEntries(layerFile, refuse(NAMES_HINT));
    // Names under the layer's own symlinks go where they lead, as the engine unpacks them.
    const paths = new LayerPaths(refuse(PARENT_HINT));
    for (const e of entries) {
      if (e.type === 'other') continue;
      if (e.type === 'hardlink') e.linkname = paths.linkTarget(e.linkname);
      e.name = paths.place(e, e.name.startsWith(WH, e.name.lastIndexOf('/') + 1));
    }
    // Whiteouts hide lower layers only: apply them before adding this layer's entries.
    for (const e of entries) {
      const slash = e.name.lastIndexOf('/');
      const dir = slash === -1 ? '' : e.name.slice(0, slash);
      const base = e.name.slice(slash + 1);
      if (base === OPAQUE) state.drop(dir, true);
      else if (base.startsWith(WH)) state.drop(dir === '' ? base.slice(WH.length) : `${dir}/${base.slice(WH.length)}`, false);
    }
    for (const e of entries) {
      if (e.type === 'other') continue;
      makeParents(state, e.name);
      const slash = e.name.lastIndexOf('/');
      if (e.name.startsWith(WH, slash + 1)) {
        // The unpacking makes a whiteout's directory (and the ones above it) before it marks the name.
        const dir = e.name.slice(0, Math.max(slash, 0));
        if (dir !== '' && !state.map.has(dir)) state.set(dir, impliedDir(dir));
        continue;
      }
      // A non-directory replaces the directory at its name, an entry or only implied by what is under it, and all that.
      if (e.type !== 'dir') state.drop(e.name, true);
      if (e.type === 'hardlink') {
        // The target as placed so far (lower layers, then this one's entries before the link): a link to a link shares the data.
        const target = state.map.get(e.linkname);
        const data = hardLinkData(e, target && (target.data ?? target.entry), refuse(LINKS_HINT));
        state.set(e.name, { entry: e, file: target!.file, data });
      } else {
        state.set(e.name, { entry: e, file: layerFile });
      }
    }
  }
  return state.map;
}

export async function exportImage(opts: ExportImageOptions): Promise<ExportResult> {
  await checkOutputPath(opts.out, 'file');
  const mtime = opts.created !== undefined ? parseCreated(opts.created).epoch : undefined;
  const base = await openBaseImage(opts.fromImage, opts);
  try {
    // Layers read in place inside an archive are copied out so each is its own file.
    const files = await separateFiles(base.layerFiles);
    try {
      const state = await flattenLayers(files.list);
      addMissingParents(state);
      // Named as nixpkgs' exportImage (tar -C root -c .) names them: "./", "./bin", "./bin/sh".
      const root: TarEntry = { ...rootDir('.'), mtime: mtime ?? 0 };
      const entries: TarEntry[] = [
        root,
        ...[...state.values()]
          .sort((a, b) => compareNames(a.entry.name, b.entry.name))
          .map(({ entry: e, file, data }) => ({ ...toEntry(e, file, data, mtime), name: `./${e.name}` })),
      ];
      const stream = writeTar(entries);
      const sha = await writeFileAtomic(opts.out, opts.compress === 'gzip' ? gzipStream(stream) : stream);
      return { path: opts.out, sha256: sha, entries: entries.length };
    } finally {
      await files.close();
    }
  } finally {
    await base.close();
  }
}

/** A directory owned by root, mode 0755, at the epoch: the root and the parents layers leave out. */
function rootDir(name: string) {
  return { name, type: 'dir' as const, mode: 0o755, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 0, size: 0 };
}

/** A parent directory no layer has an entry for (or that replaces a lower non-directory). */
function impliedDir(name: string): Placed {
  return { entry: { ...rootDir(name), linkname: '', devmajor: 0, devminor: 0, offset: 0 }, file: '' };
}

/** Layers may omit parent directories; the filesystem still has them. */
function addMissingParents(state: Map<string, Placed>): void {
  for (const name of [...state.keys()]) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!state.has(parent)) state.set(parent, impliedDir(parent));
    }
  }
}

function toEntry(e: TarReadEntry, file: string, data: TarReadEntry | undefined, mtime: number | undefined): TarEntry {
  const src = data ?? e;
  const common = { name: e.name, mode: e.mode, uid: e.uid, gid: e.gid, uname: e.uname, gname: e.gname, mtime: mtime ?? e.mtime, size: 0 };
  switch (e.type) {
    case 'file':
    case 'hardlink':
      return { ...common, type: 'file', size: src.size, stream: () => readRange(file, src.offset, src.size) };
    case 'symlink':
      // A symlink's mode is always 0777 on Linux, whatever the layer's header says: docker export shows it so.
      return { ...common, mode: 0o777, type: 'symlink', linkname: e.linkname };
    case 'char':
    case 'block':
      return { ...common, type: e.type, devmajor: e.devmajor, devminor: e.devminor };
    default:
      return { ...common, type: e.type === 'other' ? 'file' : e.type };
  }
}

async function separateFiles(list: { path: string; offset: number; size: number }[]) {
  const tmp = await mkdtemp(join(tmpdir(), 'ndt-export-'));
  const out = [];
  for (const [i, f] of list.entries()) {
    if (f.offset === 0) {
      out.push(f);
      continue;
    }
    const p = join(tmp, `layer-${i}.tar`);
    await writeFileAtomic(p, readRange(f.path, f.offset, f.size));
    out.push({ path: p, offset: 0, size: f.size });
  }
  return { list: out, close: () => rm(tmp, { recursive: true, force: true }) };
}

// Turn host directories into sorted, normalised tar entries: mtime and owner
// from the options, modes kept, hard links as regular files, symlinks kept.
// Directory walking uses the synchronous calls: for trees of many small files
// they are several times faster than thread-pool round trips per entry.
// What this user may not list or look into, and a name that is not UTF-8,
// are input_path errors naming it.
import { lstatSync } from 'node:fs';
import { dirname, normalize } from 'node:path';
import { linkTarget, listNames } from './host-names.js';
import { denied } from './unreadable.js';
import { tarEntry, type TarEntry } from './tar-header.js';
import { OWNERS_FILE, readOwners, type RecordedOwner } from './owners-file.js';

export interface Ownership {
  uid: number;
  gid: number;
  uname: string;
  gname: string;
}

export interface EntryDefaults extends Ownership {
  mtime: number;
}

export const ROOT_OWNER: Ownership = { uid: 0, gid: 0, uname: 'root', gname: 'root' };

/**
 * Byte-wise comparison of archive names' UTF-8 (what "sorted by name" means
 * here). UTF-8 keeps the order of code points, and below U+D800 UTF-16 code
 * units are code points: so the first differing code unit decides unless it
 * is a surrogate or above (then the bytes are compared). No buffers made for
 * the common names: sorting a tree's thousands of entries made two per
 * comparison.
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x < y ? -1 : 1;
    const from = i > 0 && (a.charCodeAt(i - 1) & 0xfc00) === 0xd800 ? i - 1 : i; // not inside a surrogate pair
    return Buffer.compare(Buffer.from(a.slice(from)), Buffer.from(b.slice(from)));
  }
  return a.length - b.length === 0 ? 0 : a.length < b.length ? -1 : 1;
}

/** A directory entry made up by us (parents such as nix/ and nix/store/). */
export function syntheticDir(name: string, d: EntryDefaults, mode = 0o755): TarEntry {
  return entryOf(name, 'dir', mode, 0, d);
}

/** tarEntry (one shape for every entry) with the defaults' mtime, and their owner unless another is given. */
function entryOf(name: string, type: TarEntry['type'], mode: number, size: number, d: EntryDefaults, owner: Ownership = d): TarEntry {
  return tarEntry(name, type, mode, size, owner, d.mtime);
}

/** Entry for one host path (no recursion). Returns null for sockets. */
export function hostEntry(hostPath: string, name: string, d: EntryDefaults, owner: Ownership = d): TarEntry | null {
  // Refused: the directory that holds it may be listed but not searched.
  const st = denied(() => lstatSync(hostPath), dirname(hostPath), 'search');
  const mode = st.mode & 0o7777;
  if (st.isFile()) {
    const e = entryOf(name, 'file', mode, st.size, d, owner);
    e.hostPath = hostPath;
    return e;
  }
  if (st.isDirectory()) return entryOf(name, 'dir', mode, 0, d, owner);
  if (st.isSymbolicLink()) {
    const e = entryOf(name, 'symlink', mode, 0, d, owner);
    e.linkname = linkTarget(hostPath);
    return e;
  }
  const dev = { devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) };
  if (st.isCharacterDevice()) return Object.assign(entryOf(name, 'char', mode, 0, d, owner), dev);
  if (st.isBlockDevice()) return Object.assign(entryOf(name, 'block', mode, 0, d, owner), dev);
  if (st.isFIFO()) return entryOf(name, 'fifo', mode, 0, d, owner);
  return null;
}

/**
 * Entries for a host path and everything below it, named under `prefix`
 * ("" for the archive root: then the root directory itself is left out).
 */
export async function treeEntries(hostPath: string, prefix: string, d: EntryDefaults): Promise<TarEntry[]> {
  return treeEntriesSync(hostPath, prefix, d);
}

/** treeEntries with the synchronous calls it makes anyway, for a caller that cannot wait (a layer listed when a stream reaches it). */
export function treeEntriesSync(hostPath: string, prefix: string, d: EntryDefaults): TarEntry[] {
  const out: TarEntry[] = [];
  // A directory copied to the image root may carry the owners shadowSetup recorded (owners-file.ts).
  const owners = prefix === '' ? readOwners(hostPath) : new Map<string, RecordedOwner>();
  const ownerOf = (name: string): Ownership => {
    const o = owners.get(name);
    return o ? { uid: o.uid, gid: o.gid, uname: o.uid === 0 ? 'root' : '', gname: o.gid === 0 ? 'root' : '' } : d;
  };
  // Children's paths are joined by hand below a normalised top (path.join per entry was a tenth of the listing).
  const below = (p: string, child: string) => (p.endsWith('/') ? p + child : `${p}/${child}`);
  const visit = (p: string, name: string): void => {
    if (name !== '') {
      const e = hostEntry(p, name, d, owners.size > 0 ? ownerOf(name) : d);
      if (!e) return;
      out.push(e);
      if (e.type !== 'dir') return;
    }
    const names = denied(() => listNames(p), p, 'list');
    names.sort(compareNames);
    for (const child of names) {
      if (name === '' && prefix === '' && child === OWNERS_FILE) continue;
      visit(below(p, child), name === '' ? child : `${name}/${child}`);
    }
  };
  visit(normalize(hostPath), prefix);
  return out;
}

/**
 * A directory's entries at the archive root (treeEntriesSync with no prefix)
 * in name order: what mergeEntries makes of that one list, whose names are
 * distinct and whose parents are all in it, without its map of every name.
 */
export function sortedTreeEntries(hostPath: string, d: EntryDefaults): TarEntry[] {
  return treeEntriesSync(hostPath, '', d).sort((a, b) => compareNames(a.name, b.name));
}

/**
 * Merge entry lists (later lists win on equal names), add missing parent
 * directories, and sort by name.
 */
export function mergeEntries(lists: TarEntry[][], d: EntryDefaults): TarEntry[] {
  const byName = new Map<string, TarEntry>();
  for (const list of lists) {
    for (const e of list) {
      const prev = byName.get(e.name);
      byName.set(e.name, e); // directories merge: their children stay
      if (prev?.type === 'dir' && e.type !== 'dir') {
        for (const k of [...byName.keys()]) if (k.startsWith(`${e.name}/`)) byName.delete(k);
      }
    }
  }
  // Up from each name until a parent is there: one that was there is itself a name of this loop, one
  // added here has its own parents added on the way up (one lookup per name in a tree that has them all).
  for (const name of [...byName.keys()]) {
    let parent = name;
    for (let cut = parent.lastIndexOf('/'); cut > 0; cut = parent.lastIndexOf('/')) {
      parent = parent.slice(0, cut);
      if (byName.has(parent)) break;
      byName.set(parent, syntheticDir(parent, d));
    }
  }
  return [...byName.values()].sort((a, b) => compareNames(a.name, b.name));
}

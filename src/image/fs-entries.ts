// Turn host directories into sorted, normalised tar entries: mtime and owner
// from the options, modes kept, hard links as regular files, symlinks kept.
// Directory walking uses the synchronous calls: for trees of many small files
// they are several times faster than thread-pool round trips per entry.
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { TarEntry } from './tar-writer.js';
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
  return { name, type: 'dir', mode, size: 0, ...ownerOf(d), mtime: d.mtime };
}

function ownerOf(d: Ownership): Ownership {
  return { uid: d.uid, gid: d.gid, uname: d.uname, gname: d.gname };
}

/** Entry for one host path (no recursion). Returns null for sockets. */
export function hostEntry(hostPath: string, name: string, d: EntryDefaults): TarEntry | null {
  const st = lstatSync(hostPath);
  const base = { name, mode: st.mode & 0o7777, mtime: d.mtime, ...ownerOf(d), size: 0 };
  if (st.isDirectory()) return { ...base, type: 'dir' };
  if (st.isSymbolicLink()) return { ...base, type: 'symlink', linkname: readlinkSync(hostPath) };
  if (st.isFile()) return { ...base, type: 'file', size: st.size, hostPath };
  const dev = { devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) };
  if (st.isCharacterDevice()) return { ...base, type: 'char', ...dev };
  if (st.isBlockDevice()) return { ...base, type: 'block', ...dev };
  if (st.isFIFO()) return { ...base, type: 'fifo' };
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
  const visit = (p: string, name: string): void => {
    const e = name === '' ? null : hostEntry(p, name, d);
    const owner = e ? owners.get(name) : undefined;
    if (e)
      out.push(
        owner ? { ...e, uid: owner.uid, gid: owner.gid, uname: owner.uid === 0 ? 'root' : '', gname: owner.gid === 0 ? 'root' : '' } : e,
      );
    if (name !== '' && e?.type !== 'dir') return;
    const names = readdirSync(p).filter((n) => name !== '' || prefix !== '' || n !== OWNERS_FILE);
    names.sort(compareNames);
    for (const child of names) visit(join(p, child), name === '' ? child : `${name}/${child}`);
  };
  visit(hostPath, prefix);
  return out;
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

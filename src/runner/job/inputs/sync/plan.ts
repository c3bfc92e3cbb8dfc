// What a sync does, from the host tree and what is known of the volume:
// which entries are sent, which only get their metadata set by `finish`
// (same content: size/mtime changed but the hash did not), which paths
// `finish` removes, and the pending list written before anything changes.
// A file whose size and mtime are unchanged is not read; one whose size
// changed is sent without being hashed first (it is hashed as it is sent).
// One that cannot be read to be hashed is sent (readable.ts then names it).
import { join } from 'node:path';
import { isDenied } from '../../../../image/unreadable.js';
import { hashFile } from './hash.js';
import type { Pending } from './manifest.js';
import type { Knowledge } from './volume-state.js';
import { parentOf, type ManifestEntry } from './types.js';

/** Past this many metadata-only changes, files are sent again rather than fixed one by one by `finish`. */
export const MAX_FIXUPS = 256;

export interface Plan {
  /** For each host entry (same index): send it in the archive. */
  send: boolean[];
  /** Entries whose metadata only `finish` sets. */
  fixups: ManifestEntry[];
  /** Paths `finish` removes (the topmost of each removed subtree). */
  deletes: string[];
  /** Directories whose mtime `finish` sets again after the removals. */
  touch: ManifestEntry[];
  /** The pending list of this sync (what may be wrong if it is interrupted), with the old one's. */
  pending: Pending;
}

const sameMeta = (a: ManifestEntry, b: ManifestEntry) => a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtime === b.mtime;

/** Compares one entry; fills in its hash when known. */
function decide(hostDir: string, e: ManifestEntry, k: ManifestEntry | undefined): 'same' | 'send' | 'fixup' {
  if (!k || k.type !== e.type) return 'send';
  if (e.type === 'd') return sameMeta(e, k) ? 'same' : 'send';
  if (e.type === 'l') return e.link === k.link && sameMeta(e, k) ? 'same' : 'send';
  if (!k.hash) return 'send';
  if (e.size === k.size && e.mtime === k.mtime) {
    e.hash = k.hash;
    return sameMeta(e, k) ? 'same' : 'fixup';
  }
  if (e.size !== k.size) return 'send';
  try {
    e.hash = hashFile(join(hostDir, e.path));
  } catch (err) {
    if (isDenied(err)) return 'send';
    throw err;
  }
  return e.hash === k.hash ? 'fixup' : 'send';
}

/** The path `finish` removes for a path gone from the host: its topmost ancestor-or-self that is not a host directory. */
function deletionTarget(p: string, byPath: (path: string) => ManifestEntry | undefined): string | null {
  let target = p;
  for (let q = parentOf(p); q !== '.'; q = parentOf(q)) if (byPath(q)?.type !== 'd') target = q;
  // A target the host has as a non-directory replaces it in the archive (the engine removes what was there).
  return byPath(target) ? null : target;
}

/** a, then what b adds, each once (no intermediate copies of either). */
function union(a: string[], b: string[]): string[] {
  const all = new Set(a);
  for (const p of b) all.add(p);
  return [...all];
}

export function makePlan(hostDir: string, entries: ManifestEntry[], knowledge: Knowledge): Plan {
  // One index of the host's paths (not a second map of them to their entries, nor a copy of the list).
  const index = new Map<string, number>();
  entries.forEach((e, i) => index.set(e.path, i));
  const byPath = (p: string) => {
    const i = index.get(p);
    return i === undefined ? undefined : entries[i];
  };
  const send = new Array<boolean>(entries.length).fill(false);
  let fixups: ManifestEntry[] = [];
  const exact: string[] = [];
  const tree: string[] = [];
  entries.forEach((e, i) => {
    const k = knowledge.known.get(e.path);
    const d = decide(hostDir, e, k);
    if (d === 'send') {
      send[i] = true;
      exact.push(e.path);
      if (k?.type === 'd' && e.type !== 'd') tree.push(e.path);
    } else if (d === 'fixup') fixups.push(e);
  });
  if (fixups.length > MAX_FIXUPS) {
    for (const e of fixups) {
      send[index.get(e.path)!] = true;
      exact.push(e.path); // one at a time: a spread of 100,000 arguments overflows the stack
    }
    fixups = [];
  }
  const deletes = new Set<string>();
  for (const p of knowledge.mayExist) {
    if (index.has(p) || p === '.') continue;
    const t = deletionTarget(p, byPath);
    if (t !== null) deletes.add(t);
  }
  const touchPaths = new Set([...deletes].map(parentOf));
  // A sent entry changes its directory's mtime in the volume: the directory's header goes too, and the engine sets it back.
  entries.forEach((e, i) => {
    if (!send[i] || e.path === '.') return;
    const parent = parentOf(e.path);
    if (!send[index.get(parent)!]) exact.push(parent);
    send[index.get(parent)!] = true;
  });
  const touch = [...touchPaths].map((p) => byPath(p)!);
  exact.push(...fixups.map((e) => e.path), ...touchPaths);
  for (const p of deletes) tree.push(p);
  const pending = { exact: union(knowledge.pending.exact, exact), tree: union(knowledge.pending.tree, tree) };
  return { send, fixups, deletes: [...deletes].sort(), touch, pending };
}

// What changed in a volume since its last sync, by something other than a
// sync (the system shell): its manifest (which, after a complete sync,
// describes the volume exactly, as the host had it) compared with a listing
// of the volume (list-volume.ts). A path is changed when it is new, or its
// type, size, mtime, mode or link target differs; a file whose mtime alone
// differs may hold the same bytes (the caller fetches and hashes it to
// tell). Deletions are given as the topmost path of each removed subtree.
import type Docker from 'dockerode';
import { OpError } from '../../../../errors.js';
import { listVolume } from './list-volume.js';
import { parentOf, type ManifestEntry } from './types.js';
import { readKnowledge } from './volume-state.js';

export interface VolumeChanges {
  /** The manifest of the last complete sync: what the volume held, and the host had, then. */
  manifest: Map<string, ManifestEntry>;
  /** The volume now, parents before their children (files without hash). */
  now: ManifestEntry[];
  /** Entries of `now` that are new or differ from the manifest (the root's own metadata aside). */
  changed: ManifestEntry[];
  /** Paths of the manifest gone from the volume: the topmost of each removed subtree. */
  deleted: string[];
  /** Paths the listing could not describe. */
  unreadable: string[];
}

function differs(now: ManifestEntry, m: ManifestEntry | undefined): boolean {
  if (!m || m.type !== now.type) return true;
  if (now.type === 'd') return false;
  if (now.type === 'l') return now.link !== m.link;
  return now.size !== m.size || now.mtime !== m.mtime || now.mode !== m.mode;
}

export async function volumeChanges(
  container: Docker.Container,
  root: string,
  exclude: readonly string[],
  signal?: AbortSignal,
): Promise<VolumeChanges> {
  const knowledge = await readKnowledge(container, root, signal);
  if (!knowledge || knowledge.status !== 'done') {
    throw new OpError(
      'input_sync',
      `the copy of the package in ${root} has no complete record of what was sent (state: ${knowledge?.status ?? 'none'}), so what changed there cannot be told`,
      'Nothing was brought back; the next build sends the package again where needed.',
    );
  }
  const listing = await listVolume(container, root, exclude, signal);
  const present = new Set(listing.entries.map((e) => e.path));
  const changed = listing.entries.filter((e) => e.path !== '.' && differs(e, knowledge.known.get(e.path)));
  const deleted: string[] = [];
  for (const p of knowledge.known.keys()) {
    if (present.has(p) || p === '.') continue;
    const parent = parentOf(p);
    if (parent === '.' || present.has(parent)) deleted.push(p);
  }
  return { manifest: knowledge.known, now: listing.entries, changed, deleted: deleted.sort(), unreadable: listing.unreadable };
}

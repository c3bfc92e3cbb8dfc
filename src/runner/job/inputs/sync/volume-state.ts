// What is known of the volume before a sync: its state files (layout.ts)
// read through the archive API and checked (manifest.ts), or, when there are
// none or they cannot be trusted, its whole content read back (read-back.ts).
import { posix } from 'node:path';
import type Docker from 'dockerode';
import { isNotFound } from '../../../../engine/errors.js';
import { collect, readArchive, ArchiveTooLarge } from './read-archive.js';
import { decodeManifest, decodePending, MAX_STATE_FILE, type Pending } from './manifest.js';
import { MANIFEST_FILE, parseStateLine, PENDING_FILE, STATE_DIR, STATE_FILE, STATE_MODES, type SyncStatus } from './layout.js';
import { parentOf, type ManifestEntry } from './types.js';

export interface Knowledge {
  /** The state found; "lost" when the volume was read back. */
  status: SyncStatus | 'lost';
  /** Paths whose state in the volume is known, as described. */
  known: Map<string, ManifestEntry>;
  /** Every path that may exist in the volume (a superset), from which deletions are taken. */
  mayExist: Set<string>;
  /** Paths of unknown state, carried into the next sync's pending list. */
  pending: Pending;
  readBack: boolean;
}

/** The state files of a volume as read, and whether the state is readable by the build's user (STATE_MODES). */
export interface StateFiles {
  files: Map<string, Buffer>;
  readableState: boolean;
}

/** The state files of the volume, or null when they are missing or cannot be trusted. */
async function readStateFiles(container: Docker.Container, root: string, signal?: AbortSignal): Promise<StateFiles | null> {
  const files = new Map<string, Buffer>();
  let readableState = true;
  try {
    await readArchive(
      container,
      posix.join(root, STATE_DIR),
      4 * MAX_STATE_FILE,
      async (entry) => {
        const name = entry.path.replace(/\/$/, '');
        const base = name.startsWith(`${STATE_DIR}/`) ? name.slice(STATE_DIR.length + 1) : '';
        if (name === STATE_DIR && (entry.mode ?? 0) !== STATE_MODES.dir) readableState = false;
        if (base === STATE_FILE && (entry.mode ?? 0) !== STATE_MODES.state) readableState = false;
        if (entry.type !== 'File' || base === '' || base.includes('/')) return void entry.resume();
        const data = await collect(entry, MAX_STATE_FILE);
        if (data) files.set(base, data);
      },
      signal,
    );
  } catch (err) {
    if (isNotFound(err) || err instanceof ArchiveTooLarge) return null;
    throw err;
  }
  return { files, readableState };
}

/** Known = the manifest less the pending paths (exactly, or anything below a pending tree). */
function knowledgeOf(status: SyncStatus, manifest: Map<string, ManifestEntry>, pending: Pending): Knowledge {
  const exact = new Set(pending.exact);
  const trees = new Set(pending.tree);
  const underTree = (p: string) => {
    for (let q = p; ; q = parentOf(q)) {
      if (trees.has(q)) return true;
      if (q === '.') return false;
    }
  };
  const known = new Map<string, ManifestEntry>();
  for (const [p, e] of manifest) if (!exact.has(p) && !underTree(p)) known.set(p, e);
  const mayExist = new Set([...manifest.keys(), ...exact, ...trees]);
  return { status, known, mayExist, pending, readBack: false };
}

/** What the state files say, or null when they say nothing to trust. */
export async function readKnowledge(container: Docker.Container, root: string, signal?: AbortSignal): Promise<Knowledge | null> {
  return (await readVolumeState(container, root, signal))?.knowledge ?? null;
}

/** The volume's state files and what they say, or null when they say nothing to trust. */
export async function readVolumeState(
  container: Docker.Container,
  root: string,
  signal?: AbortSignal,
): Promise<(StateFiles & { knowledge: Knowledge }) | null> {
  const read = await readStateFiles(container, root, signal);
  const knowledge = read ? knowledgeFromFiles(read.files) : null;
  return read && knowledge ? { ...read, knowledge } : null;
}

/** What state files say (as read from a volume, or as this machine recorded them: host-record.ts), or null. */
export function knowledgeFromFiles(files: Map<string, Buffer>): Knowledge | null {
  const state = files.get(STATE_FILE);
  const parsed = state ? parseStateLine(state.toString('utf8')) : null;
  if (!parsed) return null;
  const manifestFile = files.get(MANIFEST_FILE);
  const manifest = manifestFile ? decodeManifest(manifestFile) : null;
  if (manifestFile && !manifest) return null;
  if (parsed.status === 'done') {
    if (!manifest || manifest.gen !== parsed.gen) return null;
    return knowledgeOf('done', manifest.entries, { exact: [], tree: [] });
  }
  const pendingFile = files.get(PENDING_FILE[parsed.status]);
  const pending = pendingFile ? decodePending(pendingFile) : null;
  if (!pending || pending.gen !== parsed.gen) return null;
  if (parsed.status === 'finishing' && manifest?.gen !== parsed.gen) return null;
  return knowledgeOf(parsed.status, manifest?.entries ?? new Map(), pending.pending);
}

// Sets a volume's manifest to what the volume holds now, after something
// other than a sync changed it (the system shell): the next sync then
// compares the host with the volume as it really is, so it resends only
// what differs (a file brought back to the host unchanged costs a hash and
// a metadata fix, not a resend; a path deleted in the volume is sent again).
// Written like a sync's archive (archive.ts), through the archive API:
// "syncing G" with the changed paths as pending, the manifest, "done G".
// Cut off half way, the next sync treats those paths as unknown.
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type Docker from 'dockerode';
import type { TarEntry } from '../../../../image/tar-writer.js';
import { encodeManifest, encodePending, type Pending } from './manifest.js';
import { MANIFEST_FILE, PENDING_FILE, STATE_DIR, STATE_FILE, stateLine } from './layout.js';
import { putEntries } from './send.js';
import { stateDir, stateFile } from './archive.js';
import type { ManifestEntry } from './types.js';

/**
 * Replaces the manifest of the volume mounted at `root` (a complete sync's)
 * with `entries`; `pending` names the paths that change in it (those a cut
 * off write leaves unknown). `what` names the tree in error messages.
 */
export async function recordVolume(
  container: Docker.Container,
  root: string,
  what: string,
  entries: ManifestEntry[],
  pending: Pending,
  signal?: AbortSignal,
): Promise<void> {
  const gen = randomBytes(8).toString('hex');
  const base = posix.basename(root);
  const state = (name: string) => `${base}/${STATE_DIR}/${name}`;
  async function* archive(): AsyncIterable<TarEntry> {
    yield stateDir(base);
    yield stateFile(state(PENDING_FILE.syncing), encodePending(gen, pending));
    yield stateFile(state(STATE_FILE), Buffer.from(stateLine('syncing', gen)));
    yield stateFile(state(MANIFEST_FILE), await encodeManifest(gen, entries));
    yield stateFile(state(STATE_FILE), Buffer.from(stateLine('done', gen)));
  }
  await putEntries(container, root, what, archive(), signal);
}

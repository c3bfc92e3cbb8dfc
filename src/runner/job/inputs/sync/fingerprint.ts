// One sha256 over a host tree as the scan describes it (every path's type,
// mode, owner, mtime, size and link, in the scan's order): kept in this
// machine's record of a sync (host-record.ts), so that a build whose tree
// has the same fingerprint knows at once that nothing changed, without
// decoding the manifest or comparing entry by entry.
import { createHash } from 'node:crypto';
import type { ManifestEntry } from './types.js';

/** The record's file that holds it. */
export const FINGERPRINT_FILE = 'fingerprint';

export function treeFingerprint(entries: ManifestEntry[]): string {
  const h = createHash('sha256');
  let batch = '';
  for (const e of entries) {
    // NUL cannot occur in a path or a link target; each field is delimited.
    batch += `${e.path}\0${e.type}\0${e.mode}\0${e.uid}\0${e.gid}\0${e.mtime}\0${e.size}\0${e.link ?? ''}\n`;
    if (batch.length > 1 << 16) {
      h.update(batch);
      batch = '';
    }
  }
  h.update(batch);
  return h.digest('hex');
}

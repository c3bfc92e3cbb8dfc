// Where a sync keeps its state in the volume, and what the state files say.
// <root>/.ndt-sync/ (owned by root, left out of every sync; the build's user
// may read only `state`, which the step driver checks: exec-driver.ts):
//   state                      one line: "syncing G", "finishing G" or "done G"
//   manifest.json.gz           the tree as the last complete archive left it
//   pending-syncing.json.gz    paths of unknown state while "syncing G"
//   pending-finishing.json.gz  paths of unknown state while "finishing G"
//   ops                        what `finish` applies (finish-script.ts)
// An archive writes, in this order: pending-syncing, state "syncing G", the
// entries, ops, manifest, pending-finishing and state "finishing G" (when
// there is something for `finish` to do) or state "done G". `finish` writes
// "done G" last. Whatever point an interruption stops at, the state names a
// pending list that covers every path that may be wrong.
export const STATE_DIR = '.ndt-sync';
export const STATE_FILE = 'state';
export const MANIFEST_FILE = 'manifest.json.gz';
export const PENDING_FILE = { syncing: 'pending-syncing.json.gz', finishing: 'pending-finishing.json.gz' } as const;
export const OPS_FILE = 'ops';
/** Modes of the state dir (others may only pass through) and of `state` (readable); the rest is root-only. */
export const STATE_MODES = { dir: 0o711, state: 0o644, other: 0o600 } as const;

export type SyncStatus = 'syncing' | 'finishing' | 'done';

export function stateLine(status: SyncStatus, gen: string): string {
  return `${status} ${gen}\n`;
}

export function parseStateLine(text: string): { status: SyncStatus; gen: string } | null {
  const m = /^(syncing|finishing|done) ([0-9a-f]{16,64})\n?$/.exec(text);
  return m ? { status: m[1] as SyncStatus, gen: m[2]! } : null;
}

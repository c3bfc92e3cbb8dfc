// Incremental, interruption-safe sync of a host tree into a named volume,
// through the Engine API only (for engines that cannot see this machine's
// files). The API:
//
//   syncTree({ container, root }, { hostDir, exclude, signal, onProgress })
//     -> { files, sentFiles, sentBytes, archiveBytes, deleted, fixed,
//          skipped, skippedPaths, readBack, finish }
//
// `container` is a CREATED (not started) container that mounts the volume at
// `root` (absolute, not "/"). The tree is sent as one streamed tar (PUT
// archive at the root's parent): symlinks as symlinks (never followed, even
// pointing outside the tree), modes, owners (uid/gid as on the host) and
// mtimes to the nanosecond, directories included; sockets, FIFOs and devices
// are skipped and counted; a name that is not valid UTF-8 is an `input_path`
// error naming it, and so are the directories this user cannot walk and the
// files to send it cannot read, all at once, before anything is sent
// (readable.ts). `exclude` patterns: exclude.ts.
//
// Incremental: a manifest (path, type, size, mode, mtime, uid/gid, link,
// sha256) is kept in the volume (<root>/.ndt-sync/, layout.ts). A re-sync
// sends only files whose size or mtime changed and whose content differs
// (hashed only then), sets the metadata of the rest through `finish`, and
// removes what is gone from the host; with nothing changed nothing is sent at
// all (one GET of the state, no PUT). With `trusted` (this machine's
// record of the volume, host-record.ts) and nothing to send against it, not
// even that: the result's `check` names what the step driver verifies
// before the first step instead (the state's one line, readable by the
// build's user), and `record` is what to keep on this machine afterwards.
//
// Interruption-safe: the archive starts with "syncing G" and the list of the
// paths it may change, and ends with "done G" (or "finishing G", completed
// by `finish`). A sync that finds "syncing"/"finishing" treats those paths as
// unknown and sends or removes them again; state files that are missing,
// too big, damaged or name paths not to trust are discarded, and the
// volume's content is read back instead (read-back.ts).
//
// `finish`, when not null, is an argv to run ONCE as root in the started
// container before the build's steps (exec): it applies removals and
// metadata changes and marks the sync done (finish-script.ts).
//
// After something else changed the volume (the system shell, in the started
// container): volumeChanges(container, root, exclude) tells what differs
// from the manifest (a listing by GNU find, metadata only: list-volume.ts,
// volume-changes.ts), and recordVolume(...) sets the manifest to what the
// volume holds then, so that the next sync resends only what differs from
// the host (record.ts).
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { OpError } from '../../../../errors.js';
import { syncEntries } from './archive.js';
import { compileExcludes } from './exclude.js';
import { finishCommand } from './finish-script.js';
import { FINGERPRINT_FILE, treeFingerprint } from './fingerprint.js';
import { MANIFEST_FILE, parseStateLine, STATE_DIR, STATE_FILE, stateLine } from './layout.js';
import { makePlan, type Plan } from './plan.js';
import { readBack } from './read-back.js';
import { checkReadable } from './readable.js';
import { scanTree, type HostTree } from './scan.js';
import { putEntries } from './send.js';
import type { SyncOptions, SyncResult, SyncTarget } from './types.js';
import { knowledgeFromFiles, readVolumeState, type Knowledge } from './volume-state.js';

export type { SyncOptions, SyncProgress, SyncResult, SyncTarget } from './types.js';
export { compileExcludes } from './exclude.js';
export { volumeChanges, type VolumeChanges } from './volume-changes.js';
export { recordVolume } from './record.js';

function checkRoot(root: string): void {
  if (!posix.isAbsolute(root) || posix.normalize(root) !== root || root === '/' || root.endsWith('/')) {
    throw new OpError('internal', `sync: the volume's mount point must be a normalized absolute path below /, not ${JSON.stringify(root)}`);
  }
}

export async function syncTree(target: SyncTarget, opts: SyncOptions): Promise<SyncResult> {
  checkRoot(target.root);
  const rules = compileExcludes([...opts.exclude, `/${STATE_DIR}`]);
  // The engine prepares the state's archive while this side walks the tree (unless this machine's record may do).
  let stateRead = opts.trusted ? null : readVolumeState(target.container, target.root, opts.signal);
  stateRead?.catch(() => {});
  await new Promise((resolve) => setImmediate(resolve));
  const host = await scanTree(opts.hostDir, rules);
  const fingerprint = treeFingerprint(host.entries);
  if (opts.trusted) {
    // A directory not walked would look emptied: the record is no measure of it.
    const quick = host.denied.length === 0 ? trustedResult(target, opts.hostDir, host, fingerprint, opts.trusted) : null;
    if (quick) return quick;
    stateRead = readVolumeState(target.container, target.root, opts.signal);
  }
  const read = await stateRead!;
  const knowledge = read?.knowledge ?? (await readBack(target.container, target.root, rules, opts.signal));
  const plan = makePlan(opts.hostDir, host.entries, knowledge);
  checkReadable(opts.hostDir, host, plan);
  const { result, totalBytes } = resultOf(host, plan, knowledge);
  // Nothing to do, unless the state is not yet readable by the build's user (an older version's modes).
  if (knowledge.status === 'done' && !hasWork(plan) && read?.readableState) {
    return { ...result, record: new Map([...read.files, [FINGERPRINT_FILE, Buffer.from(fingerprint)]]) };
  }
  const gen = randomBytes(8).toString('hex');
  opts.onProgress?.({ sentBytes: 0, totalBytes });
  const onContent = (n: number) => {
    result.sentBytes += n;
    opts.onProgress?.({ sentBytes: result.sentBytes, totalBytes });
  };
  let manifest: Buffer | null = null;
  const entries = syncEntries({
    hostDir: opts.hostDir,
    root: target.root,
    gen,
    entries: host.entries,
    plan,
    onContent,
    onManifest: (data) => (manifest = data),
    signal: opts.signal,
  });
  result.archiveBytes = await putEntries(target.container, target.root, opts.hostDir, entries, opts.signal);
  if (hasOps(plan)) result.finish = finishCommand(target.root, gen);
  if (manifest) {
    result.record = new Map([
      [STATE_FILE, Buffer.from(stateLine('done', gen))],
      [MANIFEST_FILE, manifest],
      [FINGERPRINT_FILE, Buffer.from(fingerprint)],
    ]);
  }
  return result;
}

/**
 * The result of a sync that trusts this machine's record, when the tree
 * matches it (the same fingerprint, or no difference against its manifest):
 * nothing sent, nothing read, and the check the step driver makes instead;
 * a record to keep only when it gains the tree's fingerprint. Null when
 * there is something to do.
 */
function trustedResult(
  target: SyncTarget,
  hostDir: string,
  host: HostTree,
  fingerprint: string,
  record: Map<string, Buffer>,
): SyncResult | null {
  const state = record.get(STATE_FILE);
  if (!state || parseStateLine(state.toString('utf8'))?.status !== 'done') return null;
  const check = { path: posix.join(target.root, STATE_DIR, STATE_FILE), content: state.toString('utf8') };
  const same = record.get(FINGERPRINT_FILE)?.toString() === fingerprint;
  const knowledge = same ? null : knowledgeFromFiles(record);
  if (!same && knowledge?.status !== 'done') return null;
  const plan = knowledge ? makePlan(hostDir, host.entries, knowledge) : null;
  if (plan && hasWork(plan)) return null;
  const { result } = resultOf(host, plan, knowledge);
  return { ...result, check, record: same ? null : new Map([...record, [FINGERPRINT_FILE, Buffer.from(fingerprint)]]) };
}

const hasOps = (plan: Plan) => plan.deletes.length + plan.fixups.length + plan.touch.length > 0;
const hasWork = (plan: Plan) => hasOps(plan) || plan.send.includes(true);

/** A result with nothing sent yet, and the bytes of content the plan sends; a null plan: nothing to do at all. */
function resultOf(host: HostTree, plan: Plan | null, knowledge: Knowledge | null): { result: SyncResult; totalBytes: number } {
  let sentFiles = 0;
  let totalBytes = 0;
  host.entries.forEach((e, i) => {
    if (!plan?.send[i] || e.type !== 'f') return;
    sentFiles++;
    totalBytes += e.size;
  });
  const result: SyncResult = {
    files: host.entries.length,
    sentFiles,
    sentBytes: 0,
    archiveBytes: 0,
    deleted: plan?.deletes.length ?? 0,
    fixed: plan?.fixups.length ?? 0,
    skipped: host.skipped.length,
    skippedPaths: host.skipped.slice(0, 10),
    readBack: knowledge?.readBack ?? false,
    finish: null,
    check: null,
    record: null,
  };
  return { result, totalBytes };
}

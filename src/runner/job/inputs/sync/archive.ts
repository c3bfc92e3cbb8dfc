// The archive a sync sends, as tar entries produced one at a time (writeTar
// pulls the next only when the previous one is written): the state dir and
// pending list, "syncing G", the entries to send (files read in chunks and
// hashed as they are read), then the ops file, the manifest (hashes of what
// was just sent included), and "finishing G" or "done G". Names are relative
// to the root's parent, so that the root's own mode, owner and mtime are set.
import { createHash, type Hash } from 'node:crypto';
import { join, posix } from 'node:path';
import type { TarEntry } from '../../../../image/tar-writer.js';
import { encodeManifest, encodePending } from './manifest.js';
import { MANIFEST_FILE, OPS_FILE, PENDING_FILE, STATE_DIR, STATE_FILE, STATE_MODES, stateLine } from './layout.js';
import { opsFile } from './finish-script.js';
import type { Plan } from './plan.js';
import type { ManifestEntry } from './types.js';

export interface ArchiveInput {
  hostDir: string;
  root: string;
  gen: string;
  entries: ManifestEntry[];
  plan: Plan;
  /** Called with the bytes of file content as they are read. */
  onContent: (bytes: number) => void;
  /** Called with the manifest as it is sent. */
  onManifest?: (data: Buffer) => void;
  signal?: AbortSignal;
}

const TAR_TYPE = { f: 'file', d: 'dir', l: 'symlink' } as const;

/** A state file's entry (archive.ts and record.ts write the state alike). */
export function stateFile(name: string, data: Buffer): TarEntry {
  const mode = name.endsWith(`/${STATE_FILE}`) ? STATE_MODES.state : STATE_MODES.other;
  return { name, type: 'file', mode, uid: 0, gid: 0, uname: '', gname: '', mtime: 0, size: data.length, data };
}

/** The state dir's entry, below the root's base name. */
export function stateDir(base: string): TarEntry {
  return { name: `${base}/${STATE_DIR}`, type: 'dir', mode: STATE_MODES.dir, uid: 0, gid: 0, uname: '', gname: '', mtime: 0, size: 0 };
}

function tarEntryOf(name: string, e: ManifestEntry, hostPath: string): TarEntry {
  const [sec, ns] = e.mtime.split('.') as [string, string];
  const t: TarEntry = {
    name,
    type: TAR_TYPE[e.type as 'f' | 'd' | 'l'],
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    uname: '',
    gname: '',
    mtime: Number(sec),
    mtimeNsec: Number(ns),
    size: e.type === 'f' ? e.size : 0,
  };
  if (e.type === 'l') t.linkname = e.link ?? '';
  if (e.type === 'f') t.hostPath = hostPath;
  return t;
}

export async function* syncEntries(input: ArchiveInput): AsyncIterable<TarEntry> {
  const { entries, plan, gen } = input;
  const base = posix.basename(input.root);
  const state = (name: string) => `${base}/${STATE_DIR}/${name}`;
  yield stateDir(base);
  yield stateFile(state(PENDING_FILE.syncing), encodePending(gen, plan.pending));
  yield stateFile(state(STATE_FILE), Buffer.from(stateLine('syncing', gen)));
  let hashing: { e: ManifestEntry; h: Hash } | null = null;
  for (let i = 0; i < entries.length; i++) {
    if (!plan.send[i]) continue;
    if (input.signal?.aborted) return;
    const e = entries[i]!;
    const t = tarEntryOf(e.path === '.' ? base : `${base}/${e.path}`, e, join(input.hostDir, e.path));
    if (e.type === 'f') {
      const h = createHash('sha256');
      t.onData = (chunk) => {
        h.update(chunk);
        input.onContent(chunk.length);
      };
      hashing = { e, h };
    }
    yield t;
    // writeTar asks for the next entry once this one is written: its hash is complete.
    if (hashing) {
      hashing.e.hash = hashing.h.digest('hex');
      hashing = null;
    }
  }
  const ops = plan.deletes.length + plan.fixups.length + plan.touch.length > 0;
  if (ops) yield stateFile(state(OPS_FILE), opsFile(plan.deletes, plan.fixups, plan.touch));
  const manifest = await encodeManifest(gen, entries);
  input.onManifest?.(manifest);
  yield stateFile(state(MANIFEST_FILE), manifest);
  if (ops) {
    const finishing = { exact: [...plan.fixups.map((e) => e.path), ...plan.touch.map((e) => e.path)], tree: plan.deletes };
    yield stateFile(state(PENDING_FILE.finishing), encodePending(gen, finishing));
  }
  yield stateFile(state(STATE_FILE), Buffer.from(stateLine(ops ? 'finishing' : 'done', gen)));
}

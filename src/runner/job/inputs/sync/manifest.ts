// The manifest and the pending lists as they are kept in the volume: gzip'd
// JSON (the manifest's gzip'd as it is written out), checked before it is
// trusted. What comes back from the volume is bounded (compressed and
// uncompressed size, number of entries) and every path in it must be a plain
// relative path: anything else is discarded (the caller then reads the volume
// back), never followed.
import { once } from 'node:events';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import type { ManifestEntry } from './types.js';

/** Largest gzip'd state file read back from a volume. */
export const MAX_STATE_FILE = 64 << 20;
/** Largest uncompressed manifest (about a million entries). */
const MAX_JSON = 256 << 20;
const MAX_ENTRIES = 2_000_000;
const MAX_PATH = 4096;

/** Paths of a sync's volume whose state is not known: exactly these, and these with all they hold. */
export interface Pending {
  exact: string[];
  tree: string[];
}

type Row = [string, string, number, number, number, string, number, string?];

export function validPath(p: unknown): p is string {
  if (typeof p !== 'string' || p.length === 0 || p.length > MAX_PATH || p.includes('\0')) return false;
  if (p === '.') return true;
  return p.split('/').every((c) => c !== '' && c !== '.' && c !== '..');
}

const uint = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function entryOfRow(r: unknown): ManifestEntry | null {
  if (!Array.isArray(r) || r.length < 7 || r.length > 8) return null;
  const [path, type, mode, uid, gid, mtime, size, extra] = r as Row;
  if (!validPath(path) || !['f', 'd', 'l', 'x'].includes(type) || !uint(mode) || mode > 0o7777 || !uint(uid) || !uint(gid) || !uint(size))
    return null;
  if (typeof mtime !== 'string' || !/^-?\d{1,20}\.\d{9}$/.test(mtime)) return null;
  const e: ManifestEntry = { path, type: type as ManifestEntry['type'], mode, uid, gid, mtime, size };
  if (type === 'l') {
    if (typeof extra !== 'string' || extra.length > MAX_PATH || extra.includes('\0')) return null;
    e.link = extra;
  } else if (type === 'f' && extra !== undefined) {
    if (typeof extra !== 'string' || !/^[0-9a-f]{64}$/.test(extra)) return null;
    e.hash = extra;
  }
  return e;
}

function rowOf(e: ManifestEntry): Row {
  const row: Row = [e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.size];
  if (e.type === 'l') row.push(e.link ?? '');
  else if (e.hash) row.push(e.hash);
  return row;
}

/** Text handed to gzip at a time. */
const PIECE = 64 * 1024;

/**
 * The manifest, gzip'd: the JSON of JSON.stringify({ v: 1, gen, entries:
 * rows }) written out a piece at a time, so that neither the rows nor the
 * whole text (a few hundred bytes an entry) are held at once.
 */
export async function encodeManifest(gen: string, entries: Iterable<ManifestEntry>): Promise<Buffer> {
  const gz = createGzip({ level: 1 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const ended = once(gz, 'end');
  let text = `{"v":1,"gen":${JSON.stringify(gen)},"entries":[`;
  let first = true;
  for (const e of entries) {
    text += (first ? '' : ',') + JSON.stringify(rowOf(e));
    first = false;
    if (text.length < PIECE) continue;
    if (!gz.write(text)) await once(gz, 'drain');
    text = '';
  }
  gz.end(`${text}]}`);
  await ended;
  return Buffer.concat(out);
}

function parse(gz: Buffer): Record<string, unknown> | null {
  if (gz.length > MAX_STATE_FILE) return null;
  try {
    const json: unknown = JSON.parse(gunzipSync(gz, { maxOutputLength: MAX_JSON }).toString('utf8'));
    return json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The manifest of generation `gen`, or null when it is not one (damaged, too big, a path not to trust). */
export function decodeManifest(gz: Buffer): { gen: string; entries: Map<string, ManifestEntry> } | null {
  const m = parse(gz);
  if (!m || m.v !== 1 || typeof m.gen !== 'string' || !Array.isArray(m.entries) || m.entries.length > MAX_ENTRIES) return null;
  const entries = new Map<string, ManifestEntry>();
  for (const row of m.entries) {
    const e = entryOfRow(row);
    if (!e || entries.has(e.path)) return null;
    entries.set(e.path, e);
  }
  return { gen: m.gen, entries };
}

export function encodePending(gen: string, pending: Pending): Buffer {
  return gzipSync(JSON.stringify({ v: 1, gen, exact: pending.exact, tree: pending.tree }), { level: 1 });
}

export function decodePending(gz: Buffer): { gen: string; pending: Pending } | null {
  const m = parse(gz);
  if (!m || m.v !== 1 || typeof m.gen !== 'string' || !Array.isArray(m.exact) || !Array.isArray(m.tree)) return null;
  if (m.exact.length + m.tree.length > MAX_ENTRIES || !m.exact.every(validPath) || !m.tree.every(validPath)) return null;
  return { gen: m.gen, pending: { exact: m.exact as string[], tree: m.tree as string[] } };
}

// The package on this machine, as the shell's bring-back sees it: what a
// path holds now (described as a sync's manifest describes it), whether it
// is still as the last sync recorded it, directories made without ever
// going through a symlink, and files and symlinks written atomically (a
// temporary name beside the target, then a rename, which replaces a
// symlink rather than following it). Paths are relative, "/"-separated and
// already checked (no "..", no absolute path) by the caller.
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { hashFile } from '../job/inputs/sync/hash.js';
import { mtimeOf } from '../job/inputs/sync/scan.js';
import type { ManifestEntry } from '../job/inputs/sync/types.js';

/** What `rel` under `root` is now (its hash not computed), or null when nothing is there. */
export function hostEntry(root: string, rel: string): ManifestEntry | null {
  const full = join(root, rel);
  let st;
  try {
    st = lstatSync(full, { bigint: true });
  } catch {
    return null;
  }
  const base = { path: rel, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtime: mtimeOf(st), size: 0 };
  if (st.isFile()) return { ...base, type: 'f', size: Number(st.size) };
  if (st.isDirectory()) return { ...base, type: 'd' };
  if (st.isSymbolicLink()) return { ...base, type: 'l', link: readlinkSync(full, 'utf8') };
  return { ...base, type: 'x' };
}

/** True when `rel` on the host is what the last sync recorded (`m`; undefined: the sync had nothing there). */
export function unchangedSinceSync(root: string, rel: string, m: ManifestEntry | undefined): boolean {
  const h = hostEntry(root, rel);
  if (!m || !h) return !m && !h;
  if (h.type !== m.type) return false;
  if (m.type === 'l') return h.link === m.link;
  if (m.type !== 'f') return true;
  if (h.size !== m.size) return false;
  return h.mtime === m.mtime || (m.hash !== undefined && hashFile(join(root, rel)) === m.hash);
}

/** The sha256 of a host file, or null when `rel` is not a regular file. */
export function hostHash(root: string, rel: string): string | null {
  return hostEntry(root, rel)?.type === 'f' ? hashFile(join(root, rel)) : null;
}

/**
 * Makes the directory `rel` exist under `root`, each component a real
 * directory (created with `mode` when missing); false when a component is
 * a symlink or something else than a directory: nothing is written there.
 */
export function ensureDir(root: string, rel: string, mode = 0o755): boolean {
  if (rel === '.') return true;
  let path = '';
  for (const part of rel.split('/')) {
    path = path ? `${path}/${part}` : part;
    const h = hostEntry(root, path);
    if (h?.type === 'd') continue;
    if (h) return false;
    try {
      mkdirSync(join(root, path), { mode: mode & 0o777 });
    } catch {
      return false;
    }
  }
  return true;
}

/** A fresh temporary name beside `rel` (in the same directory, so that the rename is atomic). */
export function tempBeside(root: string, rel: string): string {
  const slash = rel.lastIndexOf('/');
  const dir = slash === -1 ? '' : rel.slice(0, slash + 1);
  return join(root, `${dir}.ndt-back-${randomBytes(6).toString('hex')}.tmp`);
}

/** Moves a finished temporary file (or symlink) to `dest` under `root`; removes it when that fails. */
export function commitTemp(tmp: string, root: string, dest: string): void {
  try {
    renameSync(tmp, join(root, dest));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Writes a symlink at `dest` under `root` atomically. */
export function writeSymlink(root: string, dest: string, target: string): void {
  const tmp = tempBeside(root, dest);
  symlinkSync(target, tmp);
  commitTemp(tmp, root, dest);
}

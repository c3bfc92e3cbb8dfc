// The shell's last phase in copy mode: what changed in the package's volume
// while the shell ran (a `make savedefconfig` rewriting nerves_defconfig,
// new fragment files) comes back to the package on this machine, before the
// container goes. What changed is told by the sync's manifest against a
// listing of the volume (sync/volume-changes.ts: metadata only); only those
// files are fetched, one by one, through the archive API (fetch-file.ts).
//   - a path still as the last sync left it here is replaced (atomically);
//   - a path that also changed here meanwhile is kept, and the container's
//     version is written beside it, with SUFFIX appended, and the user told;
//   - a symlink comes back as a symlink when its target stays inside the
//     package (lexically); one pointing outside is refused and reported;
//   - nothing is ever written through a symlink of this machine, files over
//     MAX_FILE (or past MAX_FILES / MAX_TOTAL) are refused, special files too;
//   - deletions in the volume are reported, NOT applied here.
// Then the volume's manifest is set to what the volume holds (sync/record.ts),
// so the next build resends only what really differs.
// It lives here, not in the sync module: it is the shell's policy (what to
// do with the user's work); the sync only gained the two functions that
// know its format (volumeChanges, recordVolume).
import { posix } from 'node:path';
import { rmSync } from 'node:fs';
import type Docker from 'dockerode';
import { OpError } from '../../errors.js';
import { PACKAGE_EXCLUDES } from '../job/inputs/copy.js';
import { recordVolume, volumeChanges, type VolumeChanges } from '../job/inputs/sync/index.js';
import { dropHostRecord } from '../job/inputs/sync/host-record.js';
import { inputVolumes } from '../job/docker-id.js';
import { parentOf, type ManifestEntry } from '../job/inputs/sync/types.js';
import { packageDir } from '../job/inputs/transport.js';
import type { Reporter } from '../output/reporter.js';
import type { JobSpec } from '../spec.js';
import { fetchFile, NotAFile } from './fetch-file.js';
import { commitTemp, ensureDir, hostEntry, hostHash, tempBeside, unchangedSinceSync, writeSymlink } from './host-files.js';

export const SUFFIX = '.from-build-host';
export const MAX_FILE = 64 << 20;
export const MAX_TOTAL = 512 << 20;
export const MAX_FILES = 5000;
/** Paths listed per kind of outcome; the rest are counted. */
export const SHOWN = 20;

export interface BringBackInput {
  container: Docker.Container;
  spec: JobSpec;
  /** The build volume (its package volume is where the changes were made). */
  volume: string;
  reporter: Reporter;
  signal: AbortSignal;
}

export interface BroughtBack {
  /** Files and symlinks now at their own path here: new, or changed. */
  written: Array<{ path: string; isNew: boolean }>;
  /** Paths that changed here too: the container's version went to path + SUFFIX. */
  beside: string[];
  /** New directories made here. */
  dirs: string[];
  /** Changed in the container, but the bytes are those already here (a touch, or the same edit on both sides). */
  same: number;
  refused: Array<{ path: string; why: string }>;
  /** Deleted in the container (topmost paths), kept here. */
  deleted: string[];
}

/** A symlink's target stays inside the package, read lexically from the link's directory. */
function linkInside(path: string, target: string): boolean {
  if (target === '' || posix.isAbsolute(target)) return false;
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  return resolved !== '..' && !resolved.startsWith('../');
}

class Walk {
  readonly out: BroughtBack = { written: [], beside: [], dirs: [], same: 0, refused: [], deleted: [] };
  /** Hashes of the volume's files fetched (recorded in the manifest). */
  readonly hashes = new Map<string, { hash: string; size: number }>();
  private files = 0;
  private bytes = 0;

  constructor(
    private readonly input: BringBackInput,
    private readonly changes: VolumeChanges,
    private readonly host: string,
    private readonly root: string,
  ) {}

  async entry(e: ManifestEntry): Promise<void> {
    const m = this.changes.manifest.get(e.path);
    if (e.type === 'x') return this.refuse(e.path, 'a special file (socket, FIFO or device)');
    if (e.type === 'd') {
      const h = hostEntry(this.host, e.path);
      if (h?.type === 'd') return;
      if (h || !ensureDir(this.host, e.path, e.mode | 0o700))
        return this.refuse(e.path, 'a new directory where this machine has something else');
      this.out.dirs.push(e.path);
      return;
    }
    if (!ensureDir(this.host, parentOf(e.path))) return this.refuse(e.path, 'its directory here is a symlink or not a directory');
    const replace = unchangedSinceSync(this.host, e.path, m) && hostEntry(this.host, e.path)?.type !== 'd';
    if (e.type === 'l') return this.symlink(e, replace);
    return this.file(e, m, replace);
  }

  private symlink(e: ManifestEntry, replace: boolean): void {
    const target = e.link ?? '';
    if (!linkInside(e.path, target)) return this.refuse(e.path, `a symlink to ${JSON.stringify(target)}, outside the package`);
    const h = hostEntry(this.host, e.path);
    if (h?.type === 'l' && h.link === target) {
      this.out.same++;
      return;
    }
    this.place(e.path, replace, (dest) => writeSymlink(this.host, dest, target), !h);
  }

  private async file(e: ManifestEntry, m: ManifestEntry | undefined, replace: boolean): Promise<void> {
    if (e.size > MAX_FILE) return this.refuse(e.path, `larger than ${MAX_FILE >> 20} MiB`);
    if (this.files >= MAX_FILES || this.bytes + e.size > MAX_TOTAL)
      return this.refuse(e.path, `past the limit of what one shell brings back (${MAX_FILES} files, ${MAX_TOTAL >> 20} MiB)`);
    this.files++;
    this.bytes += e.size;
    const tmp = tempBeside(this.host, e.path);
    let got;
    try {
      got = await fetchFile(this.input.container, `${this.root}/${e.path}`, tmp, e.mode, MAX_FILE, this.input.signal);
    } catch (err) {
      if (err instanceof NotAFile) return this.refuse(e.path, err.message);
      throw err;
    }
    this.hashes.set(e.path, got);
    const h = hostEntry(this.host, e.path);
    const sameHere = h?.type === 'f' && (h.mode & 0o777) === (e.mode & 0o777) && hostHash(this.host, e.path) === got.hash;
    if (sameHere || (m?.type === 'f' && m.hash === got.hash && m.mode === e.mode)) {
      rmSync(tmp, { force: true });
      this.out.same++;
      return;
    }
    this.place(
      e.path,
      replace,
      (dest) => commitTemp(tmp, this.host, dest),
      !h,
      () => rmSync(tmp, { force: true }),
    );
  }

  /** Puts a new version at `path` (replace) or beside it; a failure here is reported, not fatal. */
  private place(path: string, replace: boolean, write: (dest: string) => void, isNew: boolean, drop = () => {}): void {
    const dest = replace ? path : path + SUFFIX;
    if (!replace && hostEntry(this.host, dest)?.type === 'd') {
      drop();
      return this.refuse(path, `changed here too, and ${dest} is a directory`);
    }
    try {
      write(dest);
    } catch (err) {
      drop();
      return this.refuse(path, (err as Error).message);
    }
    if (replace) this.out.written.push({ path, isNew });
    else this.out.beside.push(path);
  }

  private refuse(path: string, why: string): void {
    this.out.refused.push({ path, why });
  }
}

/** The manifest after the bring-back: the volume as it is (fetched files with their hash), unchanged files as recorded. */
function newManifest(changes: VolumeChanges, hashes: Map<string, { hash: string; size: number }>): ManifestEntry[] {
  const changed = new Set(changes.changed.map((e) => e.path));
  return changes.now.map((e) => {
    const m = changes.manifest.get(e.path);
    if (e.type === 'f' && !changed.has(e.path) && m) return m;
    const got = hashes.get(e.path);
    return got ? { ...e, size: got.size, hash: got.hash } : e;
  });
}

export async function bringBackChanges(input: BringBackInput): Promise<BroughtBack | null> {
  const { spec, container, signal } = input;
  const root = packageDir(spec.app);
  const host = spec.pkg_path;
  let changes: VolumeChanges;
  try {
    changes = await volumeChanges(container, root, [...PACKAGE_EXCLUDES, ...spec.inputs_exclude], signal);
  } catch (err) {
    if (!(err instanceof OpError) || err.code === 'interrupted') throw err;
    throw new OpError(
      'shell_bring_back',
      `Could not tell what changed in the package in the build container, so nothing was brought back: ${err.message}`,
      err.hint,
    );
  }
  if (changes.changed.length + changes.deleted.length + changes.unreadable.length === 0) return null;
  const walk = new Walk(input, changes, host, root);
  try {
    for (const e of changes.changed) {
      signal.throwIfAborted();
      await walk.entry(e);
    }
    for (const p of changes.unreadable) walk.out.refused.push({ path: p, why: 'a name that is not UTF-8, or not a plain path' });
    walk.out.deleted = changes.deleted;
  } finally {
    report(input.reporter, host, walk.out);
  }
  const pending = { exact: changes.changed.map((e) => e.path), tree: changes.deleted };
  // This machine's record of the package volume no longer holds: forgotten, so that the next build
  // reads the volume's state rather than take the change for another machine's.
  await dropHostRecord(spec.build_path, inputVolumes(input.volume).package);
  await recordVolume(container, root, host, newManifest(changes, walk.hashes), pending, signal);
  return walk.out;
}

function listed(paths: string[]): string[] {
  const lines = paths.slice(0, SHOWN).map((p) => `  ${p}`);
  if (paths.length > SHOWN) lines.push(`  ... and ${paths.length - SHOWN} more`);
  return lines;
}

/** What came back, what did not, in lines for the user. */
export function report(reporter: Reporter, host: string, out: BroughtBack): void {
  const n = out.written.length;
  if (n + out.beside.length + out.dirs.length + out.refused.length + out.deleted.length === 0) return;
  reporter.header('Bringing back what changed in the package');
  if (n > 0 || out.dirs.length > 0) {
    const dirs = out.dirs.length ? ` and ${out.dirs.length} new director${out.dirs.length === 1 ? 'y' : 'ies'}` : '';
    reporter.info(`${n} file${n === 1 ? '' : 's'}${dirs} came back from the build container into ${host}:`);
    for (const l of listed(out.written.map((w) => `${w.path} (${w.isNew ? 'new' : 'changed'})`))) reporter.info(l);
  }
  for (const p of out.beside.slice(0, SHOWN)) {
    reporter.warn(
      `${p} also changed here while the shell ran: it is kept as it is here; the build container's version is in ${p}${SUFFIX}`,
    );
  }
  if (out.beside.length > SHOWN) reporter.warn(`... and ${out.beside.length - SHOWN} more files written beside their own, with ${SUFFIX}`);
  for (const r of out.refused.slice(0, SHOWN)) reporter.warn(`not brought back: ${r.path}: ${r.why}`);
  if (out.refused.length > SHOWN) reporter.warn(`... and ${out.refused.length - SHOWN} more not brought back`);
  if (out.deleted.length > 0) {
    reporter.info(
      `${out.deleted.length} path${out.deleted.length === 1 ? ' was' : 's were'} deleted in the build container; deletions are not brought back, so ${out.deleted.length === 1 ? 'it is' : 'they are'} kept here (delete ${out.deleted.length === 1 ? 'it' : 'them'} yourself if you meant to):`,
    );
    for (const l of listed(out.deleted)) reporter.info(l);
  }
}

// What a volume holds now, for comparing it with its manifest after
// something other than a sync changed it (the system shell): GNU find, run
// once as root in the STARTED container, writes one record per path (type,
// mode, owner, mtime to the nanosecond, size, name, link target; NUL
// separated, so any name survives) to a file of the container's own /tmp,
// which is then read through the archive API, bounded. Metadata only: no
// content crosses the wire here. The state dir and the excluded paths are
// left out (the literal patterns pruned by find itself, the rest filtered
// here), so the listing describes what a sync's manifest describes.
// Why a listing rather than reading the volume back through the archive
// API: a read-back sends every byte of the tree, a listing a few bytes per
// path; only what changed is fetched afterwards.
import { randomBytes } from 'node:crypto';
import { Collected } from '../../../../chunk-sink.js';
import type Docker from 'dockerode';
import { runExec } from '../../../../engine/exec.js';
import { OpError } from '../../../../errors.js';
import { compileExcludes } from './exclude.js';
import { STATE_DIR } from './layout.js';
import { validPath } from './manifest.js';
import { ArchiveTooLarge, collect, readArchive } from './read-archive.js';
import { parentOf, type EntryType, type ManifestEntry } from './types.js';

/** Largest listing read back (about half a million paths). */
export const MAX_LISTING = 64 << 20;
const FORMAT = '%y %m %U %G %T@ %s\\0%P\\0%l\\0';
const TYPES: Record<string, EntryType> = { f: 'f', d: 'd', l: 'l' };
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export interface VolumeListing {
  /** Every path of the volume not excluded, parents before their children; files without their hash. */
  entries: ManifestEntry[];
  /** Paths the listing cannot describe (a name that is not UTF-8, or not a plain relative path), shown as latin1. */
  unreadable: string[];
}

/** find's -prune tests for the patterns that are plain names (no glob characters); the rest are filtered here. */
function pruneTests(root: string, patterns: readonly string[]): string[] {
  const tests = ['-path', `${root}/${STATE_DIR}`];
  for (const raw of patterns) {
    const p = raw.replace(/\/$/, '');
    if (p === '' || p.startsWith('#') || !/^\/?[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(p) || raw.endsWith('/')) continue;
    if (p.startsWith('/') || p.includes('/')) tests.push('-o', '-path', `${root}/${p.replace(/^\//, '')}`);
    else tests.push('-o', '-name', p);
  }
  return tests;
}

/** "<sec>.<fraction>" as find prints it (10 digits here) -> the manifest's "<sec>.<9 digits>". */
function mtimeOfFind(t: string): string | null {
  const m = /^(-?\d{1,20})(?:\.(\d+))?$/.exec(t);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0').slice(0, 9)}` : null;
}

function parse(data: Buffer, rules: ReturnType<typeof compileExcludes>): VolumeListing {
  const entries: ManifestEntry[] = [];
  const unreadable: string[] = [];
  const excludedDirs = new Set<string>();
  const underExcluded = (p: string) => {
    for (let q = parentOf(p); q !== '.'; q = parentOf(q)) if (excludedDirs.has(q)) return true;
    return false;
  };
  let pos = 0;
  const field = (): Buffer | null => {
    const end = data.indexOf(0, pos);
    if (end === -1) return null;
    const f = data.subarray(pos, end);
    pos = end + 1;
    return f;
  };
  for (;;) {
    const head = field();
    const name = field();
    const link = field();
    if (!head || !name || !link) break;
    const m = /^(\S) ([0-7]{1,6}) (\d+) (\d+) (\S+) (\d+)$/.exec(head.toString('latin1'));
    let path: string;
    let target: string;
    try {
      path = name.length === 0 ? '.' : UTF8.decode(name);
      target = UTF8.decode(link);
    } catch {
      unreadable.push(name.toString('latin1'));
      continue;
    }
    const mtime = m ? mtimeOfFind(m[5]!) : null;
    if (!m || !mtime || !validPath(path)) {
      unreadable.push(path);
      continue;
    }
    const type = TYPES[m[1]!] ?? 'x';
    if (path !== '.' && (underExcluded(path) || rules.excludes(path, type === 'd'))) {
      if (type === 'd') excludedDirs.add(path);
      continue;
    }
    const e: ManifestEntry = {
      path,
      type,
      mode: parseInt(m[2]!, 8) & 0o7777,
      uid: Number(m[3]),
      gid: Number(m[4]),
      mtime,
      size: type === 'f' ? Number(m[6]) : 0,
    };
    if (type === 'l') e.link = target;
    entries.push(e);
  }
  return { entries, unreadable };
}

/** Lists the volume mounted at `root` in the started `container` (run as root: the volume may hold what its user cannot read). */
export async function listVolume(
  container: Docker.Container,
  root: string,
  exclude: readonly string[],
  signal?: AbortSignal,
): Promise<VolumeListing> {
  const rules = compileExcludes([...exclude, `/${STATE_DIR}`]);
  const out = `/tmp/.ndt-list-${randomBytes(8).toString('hex')}`;
  const cmd = ['find', root, '(', ...pruneTests(root, exclude), ')', '-prune', '-o', '-fprintf', out, FORMAT];
  const said = new Collected();
  const status = await runExec(container, { cmd, user: '0' }, said, { signal });
  if (status !== 0) {
    const msg = said.text().trim().slice(0, 2000);
    throw new OpError(
      'input_sync',
      `listing ${root} in the container failed (find, status ${status}): ${msg}`,
      'The image needs GNU find (findutils), as Buildroot itself does.',
    );
  }
  const tooMany = () =>
    new OpError(
      'input_sync',
      `${root} in the container holds too many paths to compare (a listing over ${MAX_LISTING >> 20} MiB)`,
      'Leave big trees out with inputs_exclude.',
    );
  let data: Buffer | null = null;
  await readArchive(
    container,
    out,
    MAX_LISTING + (1 << 20),
    async (entry) => {
      if (entry.type !== 'File' || data) return void entry.resume();
      data = await collect(entry, MAX_LISTING);
      if (!data) throw tooMany();
    },
    signal,
  ).catch((err: unknown) => {
    throw err instanceof ArchiveTooLarge ? tooMany() : err;
  });
  if (!data) throw new OpError('input_sync', `the listing of ${root} did not come back from the container`, 'Run the shell again.');
  return parse(data, rules);
}

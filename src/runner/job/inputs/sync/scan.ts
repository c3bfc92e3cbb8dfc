// The host side of a sync: walks the tree (never following a symlink) and
// describes each path as a manifest entry without its hash, parents before
// their children, names in byte order. Names are read as bytes so that one
// that is not valid UTF-8 is an error naming it rather than a silently
// mangled path. Sockets, FIFOs and devices are counted and left out. A
// directory this user may not list or search is noted (and not walked) for
// one error naming every such path (readable.ts), rather than the first alone.
import { lstatSync, readdirSync, readlinkSync, statSync, type BigIntStats } from 'node:fs';
import { OpError } from '../../../../errors.js';
import { isDenied, type DeniedPath } from '../../../../image/unreadable.js';
import type { ExcludeRules } from './exclude.js';
import type { ManifestEntry } from './types.js';

export interface HostTree {
  /** Pre-order: the root ("."), then each directory before what it holds. */
  entries: ManifestEntry[];
  /** Paths of the special files left out. */
  skipped: string[];
  /** Directories this user may not list or search (their content is unknown): the sync must not go on. */
  denied: DeniedPath[];
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const NS = 1_000_000_000n;

/** "<seconds>.<nanoseconds>" of a bigint stat's mtime (string slicing: cheaper than bigint arithmetic). */
export function mtimeOf(st: BigIntStats): string {
  const ns = st.mtimeNs;
  if (ns < 0n) {
    const sec = ns / NS - (ns % NS === 0n ? 0n : 1n);
    return `${sec}.${String(ns - sec * NS).padStart(9, '0')}`;
  }
  const s = ns.toString().padStart(10, '0');
  // join makes one flat string (a template would keep a tree of three pieces for each entry).
  return [s.slice(0, -9), s.slice(-9)].join('.');
}

function badName(hostDir: string, rel: Buffer, what: string): OpError {
  const shown = JSON.stringify(rel.toString('latin1'));
  return new OpError(
    'input_path',
    `${what} ${shown} in ${hostDir} is not valid UTF-8 and cannot be sent to the engine`,
    'Rename it (or its directory) to a UTF-8 name, or leave its directory out with inputs_exclude.',
  );
}

function decodeName(hostDir: string, parent: string, name: Buffer): string {
  const fast = name.toString('utf8');
  if (!fast.includes('\uFFFD')) return fast;
  try {
    return UTF8.decode(name);
  } catch {
    throw badName(hostDir, Buffer.concat([Buffer.from(parent === '.' ? '' : `${parent}/`), name]), 'The path');
  }
}

function entryOf(path: string, type: ManifestEntry['type'], st: BigIntStats): ManifestEntry {
  return {
    path,
    type,
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: mtimeOf(st),
    size: type === 'f' ? Number(st.size) : 0,
  };
}

/** Describes one path below the root (`prefix`: the root with a trailing "/"); null for a special file. */
function describe(hostDir: string, prefix: string, path: string): ManifestEntry | null {
  const full = prefix + path; // not join(): it normalizes each of thousands of paths again
  const st = lstatSync(full, { bigint: true });
  if (st.isDirectory()) return entryOf(path, 'd', st);
  if (st.isFile()) return entryOf(path, 'f', st);
  if (st.isSymbolicLink()) {
    const target = readlinkSync(full, { encoding: 'buffer' });
    let link: string;
    try {
      link = UTF8.decode(target);
    } catch {
      throw badName(hostDir, Buffer.from(path), 'The target of the symlink');
    }
    const e = entryOf(path, 'l', st);
    e.link = link;
    return e;
  }
  return null;
}

/** Entries scanned between two turns of the event loop: the sidecar keeps answering (an interrupt, a second op) during a big scan. */
const YIELD_EVERY = 2000;

/** Walks hostDir (absolute; itself followed if it is a symlink), leaving out what `rules` exclude. */
export async function scanTree(hostDir: string, rules: ExcludeRules): Promise<HostTree> {
  const rootStat = statSync(hostDir, { bigint: true });
  if (!rootStat.isDirectory())
    throw new OpError('input_missing', `${hostDir} is not a directory`, 'Give the directory of the tree to send.');
  const entries: ManifestEntry[] = [entryOf('.', 'd', rootStat)];
  const skipped: string[] = [];
  const denied: HostTree['denied'] = [];
  const prefix = hostDir.endsWith('/') ? hostDir : `${hostDir}/`;
  let untilYield = YIELD_EVERY;
  const walk = async (dir: string): Promise<void> => {
    let names: Buffer[];
    try {
      names = readdirSync(dir === '.' ? hostDir : prefix + dir, { encoding: 'buffer' }).sort(Buffer.compare);
    } catch (err) {
      if (!isDenied(err)) throw err;
      denied.push({ path: dir, denied: 'list' });
      return;
    }
    for (const raw of names) {
      if (--untilYield === 0) {
        untilYield = YIELD_EVERY;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const name = decodeName(hostDir, dir, raw);
      const path = dir === '.' ? name : [dir, name].join('/');
      let e: ManifestEntry | null;
      try {
        e = describe(hostDir, prefix, path);
      } catch (err) {
        if (!isDenied(err)) throw err;
        // Listed but not searchable: no name in it can be looked up (unless excluded whatever its type).
        if (rules.excludes(path, false) && rules.excludes(path, true)) continue;
        denied.push({ path: dir, denied: 'search' });
        return;
      }
      if (rules.excludes(path, e !== null && e.type === 'd')) continue;
      if (e === null) {
        skipped.push(path);
        continue;
      }
      entries.push(e);
      if (e.type === 'd') await walk(path);
    }
  };
  await walk('.');
  return { entries, skipped, denied };
}

// When a volume has no sync state to trust (a fresh volume, one filled some
// other way, damaged state files), its content is read back through the
// archive API to learn what it holds: each entry's type, mode, owner and
// content hash, streaming. The engine's archive keeps whole seconds only, so
// a file read back with the same content but a finer host mtime gets its
// mtime set by `finish` (or is sent again). Excluded paths and the state dir
// are skipped, as the sync leaves them alone.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type Docker from 'dockerode';
import { OpError } from '../../../../errors.js';
import type { ExcludeRules } from './exclude.js';
import { STATE_DIR } from './layout.js';
import { validPath } from './manifest.js';
import { readArchive } from './read-archive.js';
import type { Knowledge } from './volume-state.js';
import { parentOf, type EntryType, type ManifestEntry } from './types.js';

const TYPES: Record<string, EntryType> = { File: 'f', OldFile: 'f', ContiguousFile: 'f', Directory: 'd', SymbolicLink: 'l' };
const MAX_ENTRIES = 2_000_000;

export async function readBack(container: Docker.Container, root: string, rules: ExcludeRules, signal?: AbortSignal): Promise<Knowledge> {
  const base = posix.basename(root);
  const known = new Map<string, ManifestEntry>();
  const excludedDirs = new Set<string>();
  const skip = (p: string): boolean => {
    for (let q = parentOf(p); q !== '.'; q = parentOf(q)) if (excludedDirs.has(q)) return true;
    return false;
  };
  await readArchive(
    container,
    root,
    Number.MAX_SAFE_INTEGER,
    async (entry) => {
      const name = entry.path.replace(/\/+$/, '');
      const path = name === base ? '.' : name.startsWith(`${base}/`) ? name.slice(base.length + 1) : null;
      if (path === null || !validPath(path) || known.size >= MAX_ENTRIES) {
        entry.resume();
        throw new OpError(
          'input_sync',
          `the volume at ${root} holds an entry the sync cannot handle (${JSON.stringify(entry.path).slice(0, 200)})`,
          'Remove the volume (docker volume rm): the next build fills a fresh one.',
        );
      }
      const type = TYPES[entry.type] ?? 'x';
      const isState = path === STATE_DIR || path.startsWith(`${STATE_DIR}/`);
      if (isState || skip(path) || (path !== '.' && rules.excludes(path, type === 'd'))) {
        if (type === 'd') excludedDirs.add(path);
        return void entry.resume();
      }
      const e: ManifestEntry = {
        path,
        type,
        mode: (entry.mode ?? 0) & 0o7777,
        uid: entry.uid ?? 0,
        gid: entry.gid ?? 0,
        mtime: `${Math.floor((entry.mtime?.getTime() ?? 0) / 1000)}.000000000`,
        size: type === 'f' ? entry.size : 0,
      };
      if (type === 'l') e.link = entry.linkpath ?? '';
      known.set(path, e);
      if (type !== 'f') return void entry.resume();
      const h = createHash('sha256');
      await new Promise<void>((resolve, reject) => {
        entry.on('data', (c: Buffer) => h.update(c));
        entry.on('end', () => resolve());
        entry.on('error', reject);
      });
      e.hash = h.digest('hex');
    },
    signal,
  );
  return { status: 'lost', known, mayExist: new Set(known.keys()), pending: { exact: [], tree: [] }, readBack: true };
}

// What extraCommands and fakeRootCommands leave behind may refer to store
// paths the image does not have yet (a link into the store, a path in a
// file). In nixpkgs the customisation layer's references join the closure.
// extraCommands run before the layering, so their references become roots;
// fakeRootCommands run last, on the engine, so the store paths they refer to
// (with their closure, less what the image already has) go into their own
// layer.
import { lstat, readFile } from 'node:fs/promises';
import { scanClosure, storePathsIn } from './closure.js';
import { deniedInput } from './unreadable.js';
import type { TarEntry } from './tar-writer.js';

/** Longest store path name kept from one chunk to the next, so none is missed at a boundary. */
const OVERLAP = 512;

async function* contentsOf(e: TarEntry): AsyncIterable<Buffer> {
  if (e.data) yield e.data;
  else if (e.stream) yield* e.stream();
  else if (e.hostPath) yield await readFile(e.hostPath).catch((err: unknown) => Promise.reject(deniedInput(err, e.hostPath!)));
}

/** Store paths named by the entries' link targets and file contents. */
export async function storeRefsInEntries(entries: TarEntry[], storeDir: string): Promise<Set<string>> {
  const found = new Set<string>();
  const add = (text: string) => {
    for (const p of storePathsIn(text, storeDir)) found.add(p);
  };
  for (const e of entries) {
    if (e.type === 'symlink') add(e.linkname ?? '');
    if (e.type !== 'file') continue;
    let tail = '';
    for await (const chunk of contentsOf(e)) {
      const text = tail + chunk.toString('latin1');
      add(text);
      tail = text.slice(-OVERLAP);
    }
  }
  return found;
}

/** The store paths the entries refer to that exist on this machine. */
export async function presentStoreRefs(entries: TarEntry[], storeDir: string): Promise<string[]> {
  const present = [];
  for (const p of [...(await storeRefsInEntries(entries, storeDir))].sort())
    if (
      await lstat(p).then(
        () => true,
        () => false,
      )
    )
      present.push(p);
  return present;
}

/**
 * The store paths (and their closure) the entries refer to that exist on
 * this machine and are not in `known`, sorted.
 */
export async function missingStorePaths(entries: TarEntry[], storeDir: string, known: Set<string>): Promise<string[]> {
  const present = (await presentStoreRefs(entries, storeDir)).filter((p) => !known.has(p));
  if (present.length === 0) return [];
  const closure = await scanClosure(present, storeDir);
  return closure
    .map((n) => n.path)
    .filter((p) => p.startsWith(`${storeDir}/`) && !known.has(p))
    .sort();
}

// Writes a file under a temporary name beside it, fsyncs and renames it, so
// nobody ever sees half an artifact; on any failure the temporary file goes,
// and what a killed runner left (the process could not remove it) goes at
// the next build of the package.
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const partialPrefix = (destPath: string) => `.${basename(destPath)}.partial-`;

/** Removes the temporary files of `destPath` that earlier writers left (call it holding the package's lock). */
export async function removeStalePartials(destPath: string): Promise<void> {
  const dir = dirname(destPath);
  const prefix = partialPrefix(destPath);
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(prefix)).map((n) => rm(join(dir, n), { force: true })));
}

/**
 * Writes `destPath` through `fill(tmp)`; returns the size. `beforeRename`
 * may still refuse the file (an interrupt during the fsync) by throwing.
 */
export async function writeAtomically(destPath: string, fill: (tmp: string) => Promise<void>, beforeRename?: () => void): Promise<number> {
  await mkdir(dirname(destPath), { recursive: true });
  const tmp = join(dirname(destPath), `${partialPrefix(destPath)}${process.pid}-${Date.now()}`);
  try {
    await fill(tmp);
    const fh = await open(tmp, 'r+');
    await fh.sync();
    await fh.close();
    beforeRename?.();
    await rename(tmp, destPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return (await stat(destPath)).size;
}

// Writes a file under a temporary name beside it, fsyncs and renames it, so
// nobody ever sees half an artifact; on any failure the temporary file goes.
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** Writes `destPath` through `fill(tmp)`; returns the size. */
export async function writeAtomically(destPath: string, fill: (tmp: string) => Promise<void>): Promise<number> {
  await mkdir(join(destPath, '..'), { recursive: true });
  const tmp = join(destPath, '..', `.${basename(destPath)}.partial-${process.pid}-${Date.now()}`);
  try {
    await fill(tmp);
    const fh = await open(tmp, 'r+');
    await fh.sync();
    await fh.close();
    await rename(tmp, destPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return (await stat(destPath)).size;
}

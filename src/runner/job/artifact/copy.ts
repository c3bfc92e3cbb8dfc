// The artifact into the download dir, under a temporary name first and
// renamed at the end, so that nobody ever sees half a file: copied from the
// drop dir where make system left it (an engine on this kernel), or out of
// the build container through the Engine API (GET /containers/{id}/archive).
import type Docker from 'dockerode';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadEntry } from 'tar';
import { isNotFound } from '../../../engine/errors.js';
import { OpError } from '../../../errors.js';

/**
 * The artifact a step left on this host (see FifoOutput.dropPath), copied
 * into place as our own file; null when it is not there (the step could not
 * copy it), so the caller falls back to copyArtifactOut.
 */
export async function takeDroppedArtifact(dropPath: string, destPath: string): Promise<number | null> {
  const found = await stat(dropPath).then((s) => s.isFile(), () => false);
  if (!found) return null;
  try {
    // A copy, not a rename: the step's uid owns the dropped file, the user must own the artifact.
    return await writeAtomically(destPath, (tmp) => copyFile(dropPath, tmp));
  } finally {
    await rm(dropPath, { force: true });
  }
}

/**
 * Writes `destPath` under a temporary name beside it (`fill` writes that),
 * then fsyncs and renames it, so nobody ever sees half a file; on any
 * failure the temporary file is removed. Returns the size.
 */
async function writeAtomically(destPath: string, fill: (tmp: string) => Promise<void>): Promise<number> {
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

export async function copyArtifactOut(container: Docker.Container, srcPath: string, destPath: string): Promise<number> {
  let archive: Readable;
  try {
    archive = (await container.getArchive({ path: srcPath })) as unknown as Readable;
  } catch (err) {
    if (isNotFound(err)) {
      throw new OpError('artifact_missing', `the build did not produce ${srcPath}`, 'Check that `make system` writes $(NERVES_ARTIFACT_NAME).tar.gz in the build directory.');
    }
    throw err;
  }
  // node-tar only on this path (exec-stream builds): 110 KB to parse that FIFO builds never use.
  const { Parser } = await import('tar');
  return writeAtomically(destPath, async (tmp) => {
    let wrote = false;
    let pending: Promise<void> = Promise.resolve();
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        if (!wrote && entry.type === 'File') {
          wrote = true;
          pending = pipeline(entry as unknown as Readable, createWriteStream(tmp, { mode: 0o644 }));
        } else {
          entry.resume();
        }
      },
    });
    await pipeline(archive, parser as unknown as NodeJS.WritableStream);
    await pending;
    if (!wrote) throw new OpError('artifact_missing', `${srcPath} in the build container is not a regular file`);
  });
}

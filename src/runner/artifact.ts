// Copies the artifact out of the build container through the Engine API
// (GET /containers/{id}/archive) into the download dir, under a temporary
// name first and renamed at the end, so that nobody ever sees half a file.
import type Docker from 'dockerode';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Parser, type ReadEntry } from 'tar';
import { isNotFound } from '../engine/errors.js';
import { OpError } from '../sidecar/context.js';

/**
 * The artifact a step left on this host (see FifoOutput.dropPath), copied
 * into place as our own file; null when it is not there (the step could not
 * copy it), so the caller falls back to copyArtifactOut.
 */
export async function takeDroppedArtifact(dropPath: string, destPath: string): Promise<number | null> {
  const found = await stat(dropPath).then((s) => s.isFile(), () => false);
  if (!found) return null;
  const dir = join(destPath, '..');
  await mkdir(dir, { recursive: true });
  const tmp = partialName(destPath);
  try {
    // A copy, not a rename: the step's uid owns the dropped file, the user must own the artifact.
    await copyFile(dropPath, tmp);
    const fh = await open(tmp, 'r+');
    await fh.sync();
    await fh.close();
    await rename(tmp, destPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    await rm(dropPath, { force: true });
  }
  return (await stat(destPath)).size;
}

function partialName(destPath: string): string {
  return join(destPath, '..', `.${basename(destPath)}.partial-${process.pid}-${Date.now()}`);
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
  const dir = join(destPath, '..');
  await mkdir(dir, { recursive: true });
  const tmp = partialName(destPath);
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
  try {
    await pipeline(archive, parser as unknown as NodeJS.WritableStream);
    await pending;
    if (!wrote) throw new OpError('artifact_missing', `${srcPath} in the build container is not a regular file`);
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

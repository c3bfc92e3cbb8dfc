// The artifact out of the build container through the Engine API
// (GET /containers/{id}/archive): a tar stream holding the one file,
// written under a temporary name and renamed.
import type Docker from 'dockerode';
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadEntry } from 'tar';
import { isNotFound } from '../../../engine/errors.js';
import { OpError } from '../../../errors.js';
import { writeAtomically } from './write-atomically.js';

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

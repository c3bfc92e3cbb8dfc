// The artifact out of the build container through the Engine API
// (GET /containers/{id}/archive): a tar stream holding the one file, hashed
// as it is written under a temporary name, checked against the sha256 that
// make system's step computed in the container (digest.ts), and renamed.
import type Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadEntry } from 'tar';
import { isNotFound } from '../../../engine/errors.js';
import { OpError } from '../../../errors.js';
import { readDigest } from './digest.js';
import { writeAtomically } from './write-atomically.js';

/** How much of the artifact may wait in memory for the disk. */
const WRITE_BUFFER = 1 << 20;

export interface CopyOutOptions {
  /** Check the bytes against `<srcPath>.sha256` written in the container (see digest.ts). */
  verify?: boolean;
  /** Called as bytes arrive, with the artifact's size when the engine said it. */
  onProgress?: (received: number, size: number | null) => void;
}

export async function copyArtifactOut(
  container: Docker.Container,
  srcPath: string,
  destPath: string,
  opts: CopyOutOptions = {},
): Promise<number> {
  let archive: Readable;
  try {
    archive = (await container.getArchive({ path: srcPath })) as unknown as Readable;
  } catch (err) {
    if (isNotFound(err)) {
      throw new OpError(
        'artifact_missing',
        `the build did not produce ${srcPath}`,
        'Check that `make system` writes $(NERVES_ARTIFACT_NAME).tar.gz in the build directory.',
      );
    }
    throw err;
  }
  // node-tar only on this path (exec-stream builds): 110 KB to parse that FIFO builds never use.
  const { Parser } = await import('tar');
  const hash = createHash('sha256');
  return writeAtomically(destPath, async (tmp) => {
    let wrote = false;
    let pending: Promise<void> = Promise.resolve();
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        if (!wrote && entry.type === 'File') {
          wrote = true;
          // A 1 MiB buffer: the engine's chunks (~24 KB) are written in batches (writev) while the next ones arrive,
          // not one write per chunk waiting on the last (bench/remote-build: 1.7-2.0 s -> 1.3-1.4 s for 300 MB).
          pending = pipeline(
            entry as unknown as Readable,
            tap(hash, entry.size ?? null, opts.onProgress),
            createWriteStream(tmp, { mode: 0o644, highWaterMark: WRITE_BUFFER }),
          );
        } else {
          entry.resume();
        }
      },
    });
    try {
      await pipeline(archive, parser as unknown as NodeJS.WritableStream);
      await pending;
    } catch (err) {
      if (err instanceof OpError) throw err;
      throw new OpError(
        'artifact_transfer',
        `The artifact's copy from the build container was interrupted (${(err as Error).message}); nothing was written under its name.`,
        'Rerun the build: the build volume is kept, so only `make system` and the copy run again.',
      );
    }
    if (!wrote) throw new OpError('artifact_missing', `${srcPath} in the build container is not a regular file`);
    if (opts.verify) await verify(container, srcPath, hash.digest('hex'));
  });
}

/** Passes bytes on, hashing and counting them. */
function tap(
  hash: ReturnType<typeof createHash>,
  size: number | null,
  onProgress?: (received: number, size: number | null) => void,
): Transform {
  let received = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      received += chunk.length;
      onProgress?.(received, size);
      done(null, chunk);
    },
  });
}

async function verify(container: Docker.Container, srcPath: string, got: string): Promise<void> {
  const expected = await readDigest(container, srcPath);
  if (expected === null) return; // the image has no sha256sum: nothing to check against
  if (expected !== got) {
    throw new OpError(
      'artifact_corrupt',
      `The artifact received (sha256 ${got}) is not the one in the build container (sha256 ${expected}): it was damaged on the way.`,
      'Rerun the build: the build volume is kept, so only `make system` and the copy run again.',
    );
  }
}

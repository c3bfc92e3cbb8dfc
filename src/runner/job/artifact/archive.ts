// The artifact out of the build container through the Engine API
// (GET /containers/{id}/archive): a tar stream holding the one file, taken
// out of the socket's chunks (one-file-tar.ts), hashed as it is written
// under a temporary name in large batches, checked against the sha256 that
// make system's step computed in the container (digest.ts), and renamed.
import type Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { isNotFound } from '../../../engine/errors.js';
import { OpError } from '../../../errors.js';
import { writevAll } from '../../../write-all.js';
import { damaged, readDigest } from './digest.js';
import { OneFileTar } from '../../../engine/one-file-tar.js';
import { writeAtomically } from './write-atomically.js';

/** How much of the artifact may wait in memory for the disk. */
const WRITE_BUFFER = 1 << 20;

export interface CopyOutOptions {
  /** Check the bytes against `<srcPath>.sha256` written in the container (see digest.ts). */
  verify?: boolean;
  /** Called as bytes arrive, with the artifact's size when the engine said it. */
  onProgress?: (received: number, size: number | null) => void;
  /** The job's interrupt: the request is abandoned and nothing is renamed into place. */
  signal?: AbortSignal;
}

/** The artifact's copy, whichever way it came, stopped by the job's interrupt. */
export function interrupted(): OpError {
  return new OpError('interrupted', "the artifact's copy from the build container was interrupted; nothing was written under its name");
}

export async function copyArtifactOut(
  container: Docker.Container,
  srcPath: string,
  destPath: string,
  opts: CopyOutOptions = {},
): Promise<number> {
  const { signal } = opts;
  let archive: Readable;
  try {
    if (signal?.aborted) throw interrupted();
    archive = (await container.getArchive({ path: srcPath, abortSignal: signal })) as unknown as Readable;
  } catch (err) {
    if (signal?.aborted) throw interrupted();
    if (isNotFound(err)) {
      throw new OpError(
        'artifact_missing',
        `the build did not produce ${srcPath}`,
        'Check that `make system` writes $(NERVES_ARTIFACT_NAME).tar.gz in the build directory.',
      );
    }
    throw err;
  }
  const hash = createHash('sha256');
  return writeAtomically(
    destPath,
    async (tmp) => {
      const tar = new OneFileTar();
      try {
        await writeFileFrom(
          tmp,
          archive,
          tar,
          (slice, received) => {
            hash.update(slice);
            opts.onProgress?.(received, tar.size);
          },
          signal,
        );
      } catch (err) {
        if (signal?.aborted) throw interrupted();
        if (err instanceof OpError) throw err;
        throw new OpError(
          'artifact_transfer',
          `The artifact's copy from the build container was interrupted (${(err as Error).message}); nothing was written under its name.`,
          'Rerun the build: the build volume is kept, so only `make system` and the copy run again.',
        );
      }
      const wrote = tar.found;
      if (!wrote) throw new OpError('artifact_missing', `${srcPath} in the build container is not a regular file`);
      if (opts.verify) await verify(container, srcPath, hash.digest('hex'), signal);
      if (signal?.aborted) throw interrupted(); // not renamed into place after an interrupt
    },
    () => {
      if (signal?.aborted) throw interrupted(); // nor during the fsync
    },
  );
}

/**
 * The file's bytes out of `archive` into `path`, written in batches of about
 * WRITE_BUFFER (one writev each, while the next batch arrives; the engine's
 * chunks are ~24 KB), each slice shown to `seen` first. Read from 'data'
 * events: async iteration would concatenate (copy) what is buffered. An
 * abort of `signal` fails it at once (the stream is destroyed).
 */
async function writeFileFrom(
  path: string,
  archive: Readable,
  tar: OneFileTar,
  seen: (slice: Buffer, received: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const fh = await open(path, 'w', 0o644);
  try {
    await new Promise<void>((resolve, reject) => {
      let batch: Buffer[] = [];
      let batchLen = 0;
      let received = 0;
      let writing = false;
      let ended = false;
      let failed = false;
      const onAbort = () => fail(interrupted());
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        signal?.removeEventListener('abort', onAbort);
        archive.destroy();
        reject(err);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const flush = () => {
        if (failed || writing) return;
        if (batchLen === 0) {
          if (ended) {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          }
          return;
        }
        const bufs = batch;
        batch = [];
        batchLen = 0;
        writing = true;
        writevAll(fh, bufs).then(() => {
          writing = false;
          if (!ended) archive.resume();
          flush();
        }, fail);
      };
      archive.on('data', (chunk: Buffer) => {
        try {
          for (const slice of tar.push(chunk)) {
            received += slice.length;
            seen(slice, received);
            batch.push(slice);
            batchLen += slice.length;
          }
        } catch (err) {
          return fail(err as Error);
        }
        if (batchLen < WRITE_BUFFER) return;
        // One write at a time: with one under way, a full batch waits, and so does the socket.
        if (writing) archive.pause();
        else flush();
      });
      archive.on('end', () => {
        try {
          tar.finish();
        } catch (err) {
          return fail(err as Error);
        }
        ended = true;
        flush();
      });
      archive.on('error', fail);
      archive.on('close', () => {
        if (!ended) fail(Object.assign(new Error('the archive stream closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      });
    });
  } finally {
    await fh.close();
  }
}

async function verify(container: Docker.Container, srcPath: string, got: string, signal?: AbortSignal): Promise<void> {
  const expected = await readDigest(container, srcPath, signal);
  if (expected === null) return; // the image has no sha256sum: nothing to check against
  if (expected !== got) throw damaged(got, expected);
}

// Sends a sync's archive to the created container (PUT /containers/{id}/archive
// at the root's parent), streaming: the tar is made as it is sent, never held,
// in a few 1 MiB buffers reused once the connection has written them
// (UploadBody), so memory does not grow with the size of what is sent.
// An interruption (the caller's signal, a dropped connection, a file that
// changed while it was read) aborts the upload and is reported with what to
// do; the volume's state then says "syncing" and the next sync repairs it.
// So is a file refused as it is read: made unreadable since the sync began,
// or refused despite its mode (an ACL); readable.ts names the others first.
import { posix } from 'node:path';
import type Docker from 'dockerode';
import { OpError } from '../../../../errors.js';
import { ChunkPool } from '../../../../image/chunk-pool.js';
import { TAR_CHUNK, writeTar, type TarEntry } from '../../../../image/tar-writer.js';
import { statusOf } from '../../../../engine/errors.js';
import { UPLOAD_STALL_MS, UploadBody } from '../../../../engine/upload-body.js';

const AGAIN = 'Run the build again: the next sync finds the interrupted one and resends only what may be incomplete.';

/** Uploads the entries; resolves with the bytes of archive sent. */
export async function putEntries(
  container: Docker.Container,
  root: string,
  hostDir: string,
  entries: AsyncIterable<TarEntry>,
  signal?: AbortSignal,
): Promise<number> {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) ctl.abort();
  let bytes = 0;
  let sourceError: unknown = null;
  const pool = new ChunkPool(TAR_CHUNK);
  const source = new UploadBody(
    (async function* () {
      for await (const chunk of writeTar(entries, { pool })) {
        bytes += chunk.length;
        yield chunk;
      }
    })(),
    (chunk) => pool.release(chunk),
    { stallMs: UPLOAD_STALL_MS },
  );
  source.on('error', (err) => {
    sourceError = err;
    ctl.abort();
  });
  try {
    await container.putArchive(source as unknown as NodeJS.ReadableStream, { path: posix.dirname(root), abortSignal: ctl.signal });
    return bytes;
  } catch (err) {
    if (sourceError instanceof OpError && sourceError.code === 'inputs_changed')
      // The tar writer's own hint speaks of an image build: this is the build's input sync.
      throw new OpError(
        'inputs_changed',
        `${sourceError.message}, while ${hostDir} was sent into ${root}`,
        `Something wrote to the package while the build sent it (an editor saving, a build in another terminal). ${AGAIN}`,
      );
    if (sourceError instanceof OpError && sourceError.code === 'input_path')
      // The tar writer's hint speaks of an image; this is the build's input sync, half sent.
      throw new OpError(
        'input_path',
        `${sourceError.message}, found while ${hostDir} was sent into ${root} (it changed since the copy began, or an ACL refuses it)`,
        `Make it readable (chmod, chown, setfacl), or leave it out with build_runner_opts inputs_exclude. ${AGAIN}`,
      );
    if (sourceError) throw sourceError;
    if (signal?.aborted) throw new OpError('interrupted', `the sync of ${hostDir} into ${root} was interrupted`, AGAIN);
    const status = statusOf(err);
    if (status === undefined)
      throw new OpError(
        'engine_lost',
        `the connection to the engine dropped while ${hostDir} was sent into ${root} (${(err as Error).message})`,
        AGAIN,
      );
    throw new OpError(
      'input_sync',
      `the engine refused the archive of ${hostDir} for ${root}: ${(err as Error).message}`,
      'Check that the container is created (not removed) and mounts the volume there.',
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
    source.destroy();
  }
}

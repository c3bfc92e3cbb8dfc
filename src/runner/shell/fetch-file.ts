// One regular file of the build container fetched through the archive API
// (GET /containers/{id}/archive) into a new host file, streaming and
// hashing as it comes. What the engine sends is not trusted: exactly one
// entry, a regular file (a path that turned into a symlink or a directory
// meanwhile is refused, never followed), no larger than the caller allows.
// The host file is created with O_EXCL (never opened through a symlink);
// it is removed again on every failure.
import { createHash } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync, fchmodSync } from 'node:fs';
import type Docker from 'dockerode';
import { ArchiveTooLarge, readArchive } from '../job/inputs/sync/read-archive.js';

export class NotAFile extends Error {}

export interface Fetched {
  size: number;
  hash: string;
}

/** Fetches `path` of the container into `dest` (which must not exist), with permission bits `mode`. */
export async function fetchFile(
  container: Docker.Container,
  path: string,
  dest: string,
  mode: number,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Fetched> {
  const fd = openSync(dest, 'wx', 0o600);
  let ok = false;
  try {
    let got: Fetched | null = null;
    await readArchive(
      container,
      path,
      maxBytes + (1 << 20),
      async (entry) => {
        if (got || entry.type !== 'File' || entry.size > maxBytes) {
          entry.resume();
          throw new NotAFile(
            got ? 'more than one entry' : entry.type !== 'File' ? `a ${entry.type}, not a regular file` : `larger than ${maxBytes} bytes`,
          );
        }
        const h = createHash('sha256');
        let size = 0;
        await new Promise<void>((resolve, reject) => {
          entry.on('data', (c: Buffer) => {
            h.update(c);
            size += c.length;
            writeSync(fd, c);
          });
          entry.on('end', () => resolve());
          entry.on('error', reject);
        });
        got = { size, hash: h.digest('hex') };
      },
      signal,
    ).catch((err: unknown) => {
      throw err instanceof ArchiveTooLarge ? new NotAFile(`larger than ${maxBytes} bytes`) : err;
    });
    if (!got) throw new NotAFile('nothing came back');
    fchmodSync(fd, mode & 0o777);
    ok = true;
    return got;
  } finally {
    closeSync(fd);
    if (!ok) rmSync(dest, { force: true });
  }
}

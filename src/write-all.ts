// Writes a list of buffers completely with writev: a writev may write less
// than asked (a signal, a full pipe, some file systems), so go on from where
// it stopped. Shared by build.log (runner) and pullImage's archive (image).
import { writevSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** Writes every byte of `bufs`, at `position` (a file offset) or at the current offset when null. */
export async function writevAll(fh: FileHandle, bufs: Buffer[], position: number | null = null): Promise<number> {
  const total = bufs.reduce((n, b) => n + b.length, 0);
  let done = 0;
  let rest = bufs;
  while (done < total) {
    const { bytesWritten } = await fh.writev(rest, position === null ? undefined : position + done);
    if (bytesWritten <= 0) throw new Error('could not write (no progress)');
    done += bytesWritten;
    if (done < total) rest = remainder(bufs, done);
  }
  return total;
}

/** writevAll on the calling thread, at the file's current offset (for small batches that would wait longer for the thread pool). */
export function writevAllSync(fd: number, bufs: Buffer[]): number {
  const total = bufs.reduce((n, b) => n + b.length, 0);
  let done = 0;
  let rest = bufs;
  while (done < total) {
    const n = writevSync(fd, rest);
    if (n <= 0) throw new Error('could not write (no progress)');
    done += n;
    if (done < total) rest = remainder(bufs, done);
  }
  return total;
}

/** What is left of `bufs` after the first `skip` bytes. */
function remainder(bufs: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

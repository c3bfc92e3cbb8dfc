// sha256 of a host file, read in chunks (memory stays flat whatever its size).
import { closeSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';

const buf = Buffer.allocUnsafe(1 << 20);

export function hashFile(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

// build.log's size is final once the log is closed, also with writes that
// nobody awaited (the image build's progress): the reply that says the size
// is made after the close.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BuildLog } from '../../src/runner/output/build-log.js';

const dir = mkdtempSync(join(tmpdir(), 'ndt-buildlog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('BuildLog', () => {
  it('close waits for writes under way: size and file agree, every byte in order', async () => {
    for (let round = 0; round < 20; round++) {
      const path = join(dir, `log-${round}`);
      const log = await BuildLog.create(path, () => {});
      const parts = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024 + i, 97 + i));
      for (const p of parts) void log.write(p); // not awaited, as a progress callback writes
      await log.close();
      const file = readFileSync(path);
      expect(log.size).toBe(file.length);
      expect(file.equals(Buffer.concat(parts))).toBe(true);
    }
  });

  it('headlines split across writes are found once the log closes', async () => {
    const seen: string[] = [];
    const log = await BuildLog.create(join(dir, 'h'), (h) => seen.push(h));
    await log.write('>>> busybox 1.36');
    await log.write('.1 Extracting\nplain\n>>> last');
    await log.close();
    expect(seen).toEqual(['>>> busybox 1.36.1 Extracting', '>>> last']);
  });
});

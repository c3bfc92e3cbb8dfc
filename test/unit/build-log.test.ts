// build.log's size is final once the log is closed, also with writes that
// nobody awaited (the image build's progress): the reply that says the size
// is made after the close. A step's sink keeps one order whether bytes come
// as a Writable's writes (FIFO output) or as puts (the exec stream).
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

  it("a step's sink: puts and writes mixed land in the order they were made; ending it waits for every write", async () => {
    for (let round = 0; round < 20; round++) {
      const path = join(dir, `mixed-${round}`);
      const seen: string[] = [];
      const log = await BuildLog.create(path, (h) => seen.push(h));
      const sink = log.sink();
      const made: Buffer[] = [];
      for (let i = 0; i < 24; i++) {
        // Big pieces go to the thread pool: later puts must queue behind them, not overtake.
        const piece = Buffer.alloc(((i * 7 + round) % 5) * 100 * 1024 + 1, 65 + (i % 26));
        made.push(piece);
        if ((i + round) % 4 < 2) sink.write(piece);
        else {
          const wait = sink.put([piece.subarray(0, 10), piece.subarray(10)]);
          if (wait && i % 2 === 0) await wait;
        }
      }
      sink.put([Buffer.from('\n>>> open headline')]);
      await new Promise<void>((r) => sink.end(r));
      expect(seen).toEqual(['>>> open headline']);
      expect(readFileSync(path).equals(Buffer.concat([...made, Buffer.from('\n>>> open headline')]))).toBe(true);
      await log.close();
    }
  });
});

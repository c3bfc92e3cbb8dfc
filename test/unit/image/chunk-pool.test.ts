// ChunkPool (buffers lent and handed back) and writeTar over one: the same
// archive as without a pool, with chunks handed back as soon as they are read.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChunkPool } from '../../../src/image/chunk-pool.js';
import { TAR_CHUNK, writeTar, type TarEntry } from '../../../src/image/tar-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'ndt-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ChunkPool', () => {
  it('lends buffers of its size and lends a handed-back one again, once', () => {
    const pool = new ChunkPool(4096, 2);
    const a = pool.take();
    const b = pool.take();
    expect(a.length).toBe(4096);
    expect(a.buffer).not.toBe(b.buffer);
    pool.release(a.subarray(0, 10)); // a part of it hands back the whole buffer
    pool.release(a); // a second release is ignored
    const c = pool.take();
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(4096);
    expect(pool.take().buffer).not.toBe(a.buffer);
  });

  it('ignores buffers it did not lend, and keeps at most `keep` for reuse', () => {
    const pool = new ChunkPool(1024, 1);
    pool.release(Buffer.allocUnsafeSlow(1024));
    const [a, b] = [pool.take(), pool.take()];
    pool.release(a);
    pool.release(b);
    const reused = [pool.take(), pool.take()].map((x) => x.buffer);
    expect(reused.filter((m) => m === a.buffer || m === b.buffer)).toHaveLength(1);
  });
});

describe('writeTar with a pool', () => {
  const big = join(dir, 'big');
  writeFileSync(big, Buffer.from(Array.from({ length: 2_500_000 }, (_, i) => i % 251)));
  const streamed = Buffer.alloc(70_000, 9);
  const entries = (): TarEntry[] => [
    { name: 'd', type: 'dir', mode: 0o755, uid: 0, gid: 0, uname: '', gname: '', mtime: 1, mtimeNsec: 5, size: 0 },
    {
      name: 'd/streamed',
      type: 'file',
      mode: 0o600,
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      mtime: 3,
      size: streamed.length,
      stream: async function* () {
        yield streamed.subarray(0, 1000);
        yield streamed.subarray(1000);
      },
    },
    { name: 'd/big', type: 'file', mode: 0o644, uid: 1, gid: 2, uname: '', gname: '', mtime: 2, size: 2_500_000, hostPath: big },
    { name: 'd/small', type: 'file', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 4, size: 3, data: Buffer.from('abc') },
  ];

  it('writes the same archive, and never writes a chunk again once it is yielded (until it is handed back)', async () => {
    const plain: Buffer[] = [];
    for await (const c of writeTar(entries())) plain.push(Buffer.from(c));
    // The file spans several chunks, and a stream entry falls mid-chunk.
    const pool = new ChunkPool(TAR_CHUNK, 1);
    const pooled: Buffer[] = [];
    const seen = new Set<ArrayBufferLike>();
    // Like a connection with two writes in flight: a chunk is handed back two chunks later, checked unchanged first.
    const inFlight: [Buffer, Buffer][] = [];
    const handBack = () => {
      const [chunk, copy] = inFlight.shift()!;
      expect(chunk.equals(copy)).toBe(true);
      pool.release(chunk);
    };
    for await (const c of writeTar(entries(), { pool })) {
      pooled.push(Buffer.from(c));
      seen.add(c.buffer);
      inFlight.push([c, Buffer.from(c)]);
      if (inFlight.length > 2) handBack();
    }
    while (inFlight.length > 0) handBack();
    expect(Buffer.concat(pooled).equals(Buffer.concat(plain))).toBe(true);
    expect(seen.size).toBeLessThan(pooled.length); // buffers were reused
  });
});

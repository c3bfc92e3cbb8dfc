// UploadBody over a real HTTP connection (a local server, chunked PUT as
// dockerode sends archives): the bytes arrive exact while every buffer is
// refilled as soon as it is handed back; a producer's failure fails the
// body; a connection cut stops the producer and closes what it holds;
// engineUpload gives any stream sent to the engine the stall bound.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkPool } from '../../src/image/chunk-pool.js';
import { engineUpload, UploadBody } from '../../src/engine/upload-body.js';

/** Small chunks (under the socket's high-water mark), so that write() says "go on" while earlier ones still wait in its buffer. */
const SIZE = 4 * 1024;
const CHUNKS = 4096;

let server: Server;
let port = 0;
/** The sha256 and size of each request body received, and whether it was cut. */
const received: { sha: string; bytes: number }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const h = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      h.update(c);
      bytes += c.length;
      // A slow reader: the client waits for "drain" again and again.
      req.pause();
      setImmediate(() => req.resume());
      if (req.url === '/cut' && bytes > 64 * SIZE) req.socket.destroy();
    });
    req.on('end', () => {
      received.push({ sha: h.digest('hex'), bytes });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Sends `body` as a chunked PUT; resolves with the status, or rejects with the request's error. */
function put(path: string, body: UploadBody): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ port, path, method: 'PUT', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    body.on('error', (err) => req.destroy(err));
    body.pipe(req);
  });
}

describe('UploadBody', () => {
  it('arrives byte-exact while each chunk is refilled once the connection wrote it', async () => {
    const pool = new ChunkPool(SIZE, 8);
    const expected = createHash('sha256');
    const memories = new Set<ArrayBufferLike>();
    let released = 0;
    async function* chunks() {
      for (let i = 0; i < CHUNKS; i++) {
        const b = pool.take();
        memories.add(b.buffer);
        b.fill(i);
        expected.update(b);
        yield b;
      }
    }
    const body = new UploadBody(chunks(), (c) => {
      released++;
      pool.release(c);
    });
    expect(await put('/ok', body)).toBe(200);
    expect(received.at(-1)).toEqual({ sha: expected.digest('hex'), bytes: SIZE * CHUNKS });
    expect(released).toBe(CHUNKS);
    expect(memories.size).toBeLessThan(CHUNKS / 16);
  });

  it('ends as a stream does: stream.pipeline into a file resolves, byte-exact, every chunk handed back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ndt-upload-body-'));
    try {
      const pool = new ChunkPool(SIZE, 8);
      let released = 0;
      async function* chunks() {
        for (let i = 0; i < 300; i++) yield pool.take().fill(i);
      }
      const body = new UploadBody(chunks(), (c) => {
        released++;
        pool.release(c);
      });
      let ended = false;
      body.on('end', () => (ended = true));
      await pipeline(body, createWriteStream(join(dir, 'out')));
      const bytes = await readFile(join(dir, 'out'));
      expect(bytes.length).toBe(300 * SIZE);
      expect(bytes[299 * SIZE]).toBe(299 % 256);
      expect(released).toBe(300);
      expect(ended).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stream.pipeline into a writable that takes each chunk at once resolves (its close does not come before the body ends)', async () => {
    const pool = new ChunkPool(SIZE, 8);
    async function* chunks() {
      for (let i = 0; i < 50; i++) yield pool.take().fill(i);
      // The producer's own closing (files, a scratch directory) after the last chunk, as streamLayeredImage's.
      await new Promise((r) => setImmediate(r));
    }
    const body = new UploadBody(chunks(), (c) => pool.release(c));
    let bytes = 0;
    const sink = new Writable({
      write(c: Buffer, _enc, cb) {
        bytes += c.length;
        cb();
      },
    });
    await pipeline(body, sink);
    expect(bytes).toBe(50 * SIZE);
  });

  it('holds a few chunks at a time into a destination that never says wait (stdout redirected to a file)', async () => {
    const pool = new ChunkPool(SIZE, 8);
    const memories = new Set<ArrayBufferLike>();
    async function* chunks() {
      // Every chunk at once, as files read synchronously come: the producer never waits on I/O.
      for (let i = 0; i < 1000; i++) {
        const b = pool.take().fill(i);
        memories.add(b.buffer);
        yield b;
      }
    }
    const body = new UploadBody(chunks(), (c) => pool.release(c));
    let bytes = 0;
    // As a SyncWriteStream: written at once, called back on the next tick, write() always true.
    const sink = new Writable({
      highWaterMark: 1 << 30,
      write(c: Buffer, _enc, cb) {
        bytes += c.length;
        cb();
      },
    });
    await pipeline(body, sink);
    expect(bytes).toBe(1000 * SIZE);
    expect(memories.size).toBeLessThanOrEqual(8);
  });

  it('makes the next chunk while the connection still writes the last ones, up to 2 MiB not yet written', async () => {
    const CHUNK = 256 * 1024;
    let unwritten = 0;
    const seen: number[] = [];
    async function* chunks() {
      for (let i = 0; i < 24; i++) {
        seen.push(unwritten); // what the destination still holds when this chunk is made
        yield Buffer.alloc(CHUNK, i);
      }
    }
    // A slow connection: says "wait" at once (write returns false) and calls back 5 ms later.
    const slow = new Writable({
      highWaterMark: 1,
      write(c: Buffer, _enc, cb) {
        unwritten += c.length;
        setTimeout(() => {
          unwritten -= c.length;
          cb();
        }, 5);
      },
    });
    await pipeline(new UploadBody(chunks(), () => {}), slow);
    expect(Math.max(...seen)).toBeGreaterThan(0);
    expect(Math.max(...seen)).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it('pipe(dest, { end: false }) leaves dest open', async () => {
    async function* chunks() {
      yield Buffer.alloc(SIZE, 3);
    }
    const body = new UploadBody(chunks(), () => {});
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    const ended = new Promise((r) => body.once('end', r));
    body.pipe(sink, { end: false });
    await ended;
    await new Promise((r) => setImmediate(r));
    expect(sink.writableEnded).toBe(false);
    sink.end();
  });

  it("a producer's failure fails the body, and so the request", async () => {
    async function* chunks() {
      yield Buffer.alloc(SIZE, 1);
      throw new Error('the file changed');
    }
    await expect(put('/ok', new UploadBody(chunks(), () => {}))).rejects.toThrow('the file changed');
  });

  it('with stallMs, a destination that takes nothing for that long is destroyed (ETIMEDOUT) and the producer closed', async () => {
    let closed = false;
    async function* chunks() {
      try {
        for (;;) yield Buffer.alloc(256 * 1024, 4);
      } finally {
        closed = true;
      }
    }
    // A link that died silently: writes are taken and never called back.
    const dead = new Writable({ highWaterMark: 1, write: () => {} });
    const failed = new Promise<NodeJS.ErrnoException>((r) => dead.once('error', r));
    const t0 = Date.now();
    const body = new UploadBody(chunks(), () => {}, { stallMs: 300 });
    body.pipe(dead);
    const err = await failed;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', message: 'the engine took none of the upload for 0.3 s' });
    body.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(true);
  });

  it('with stallMs, a slow destination that keeps taking bytes is not failed', async () => {
    async function* chunks() {
      for (let i = 0; i < 24; i++) yield Buffer.alloc(256 * 1024, 5);
    }
    // 256 KiB every 40 ms: 2 MiB pending take 320 ms to drain, more than stallMs, but each write completes within it.
    const slow = new Writable({ highWaterMark: 1, write: (_c, _e, cb) => setTimeout(cb, 40) });
    const body = new UploadBody(chunks(), () => {}, { stallMs: 150 });
    await pipeline(body, slow);
    expect(slow.destroyed).toBe(true);
  });

  it('a connection cut stops the producer, which closes what it holds', async () => {
    let closed = false;
    let produced = 0;
    async function* chunks() {
      try {
        for (;;) {
          produced++;
          yield Buffer.alloc(SIZE, 2);
        }
      } finally {
        closed = true;
      }
    }
    const body = new UploadBody(chunks(), () => {});
    await expect(put('/cut', body)).rejects.toThrow();
    body.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(true);
    expect(produced).toBeLessThan(CHUNKS);
  });
});

describe('engineUpload (the body of a request to the engine, with the stall bound)', () => {
  it('sends an UploadBody as it is, keeping a bound it has', async () => {
    async function* chunks() {
      for (;;) yield Buffer.alloc(256 * 1024, 6);
    }
    const own = new UploadBody(chunks(), () => {}, { stallMs: 300 });
    const body = engineUpload(own);
    expect(body).toBe(own);
    const dead = new Writable({ highWaterMark: 1, write: () => {} });
    const failed = new Promise<NodeJS.ErrnoException>((r) => dead.once('error', r));
    body.pipe(dead);
    expect(await failed).toMatchObject({ code: 'ETIMEDOUT', message: 'the engine took none of the upload for 0.3 s' });
    body.destroy();
    expect(() => engineUpload(new UploadBody(chunks(), () => {})).boundStalls(1)).not.toThrow();
    expect(() => body.boundStalls(1)).toThrow(/sent already/);
  });

  it('sends any other stream through one, byte-exact, and closes it when the upload is destroyed', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    for (let i = 0; i < data.length; i += 4099) data[i] = i & 0xff;
    const exact = engineUpload(Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
    expect(exact).toBeInstanceOf(UploadBody);
    expect(await put('/ok', exact)).toBe(200);
    expect(received.at(-1)).toEqual({ sha: createHash('sha256').update(data).digest('hex'), bytes: data.length });

    const source = new Readable({ read() {} });
    source.push(data);
    const cut = engineUpload(source);
    await expect(put('/cut', cut)).rejects.toThrow();
    cut.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(source.destroyed).toBe(true);
  });
});

// The exec stream's demultiplexer (src/engine/demux.ts): every payload
// reaches the sink in order whatever the socket's cuts, one put per read;
// nothing is read while the sink asks to wait; the end waits for the last
// wait; a sink that fails ends the stream with its error; on a real socket,
// a writer's small pieces are read in fewer, bigger reads. FrameSplitter
// tells each piece's stream (runPlain's stdout and stderr).
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { ChunkSink } from '../../src/chunk-sink.js';
import { demuxInto, FrameSplitter } from '../../src/engine/demux.js';

/** Frames as the engine writes them: type, 3 zero bytes, big-endian length, payload. */
function framed(payloads: Buffer[]): Buffer {
  return Buffer.concat(
    payloads.flatMap((p, i) => {
      const h = Buffer.alloc(8);
      h[0] = i % 3 === 2 ? 2 : 1;
      h.writeUInt32BE(p.length, 4);
      return [h, p];
    }),
  );
}

/** A socket stand-in that delivers `bytes` cut at `cuts`, one read a turn of the event loop. */
function socketOf(bytes: Buffer, cuts: number[]): PassThrough {
  const s = new PassThrough();
  const at = [...cuts, bytes.length];
  let from = 0;
  let i = 0;
  const next = (): void => {
    if (i >= at.length) return void s.end();
    s.write(bytes.subarray(from, at[i]));
    from = at[i++]!;
    setImmediate(next);
  };
  setImmediate(next);
  return s;
}

class Sink implements ChunkSink {
  got: Buffer[] = [];
  puts = 0;
  waiting = false;
  constructor(private readonly slow: boolean) {}
  put(chunks: Buffer[]): Promise<void> | undefined {
    if (this.waiting) throw new Error('put while the sink asked to wait');
    this.puts++;
    this.got.push(...chunks.map((c) => Buffer.from(c)));
    if (!this.slow) return undefined;
    this.waiting = true;
    return new Promise((r) =>
      setTimeout(() => {
        this.waiting = false;
        r();
      }, 1),
    );
  }
}

describe('demuxInto', () => {
  it('puts every payload in order, whatever the cuts; waits when asked; the end waits for the last wait', async () => {
    for (let round = 0; round < 60; round++) {
      const payloads = Array.from({ length: 1 + (round % 9) }, (_, i) => randomBytes(1 + ((round * 7 + i * 13) % 300)));
      const bytes = framed(payloads);
      const cuts = Array.from({ length: round % 12 }, () => Math.floor(Math.random() * bytes.length)).sort((a, b) => a - b);
      const sink = new Sink(round % 2 === 1);
      await demuxInto(socketOf(bytes, cuts), sink);
      expect(sink.waiting).toBe(false);
      expect(Buffer.concat(sink.got)).toEqual(Buffer.concat(payloads));
      expect(sink.puts).toBeLessThanOrEqual(cuts.length + 1);
    }
  });

  it('a sink that throws or rejects ends it with its error, and the socket is destroyed', async () => {
    const bytes = framed([Buffer.from('a'), Buffer.from('b')]);
    const thrown = socketOf(bytes, [9]);
    await expect(
      demuxInto(thrown, {
        put: () => {
          throw new Error('disk full');
        },
      }),
    ).rejects.toThrow('disk full');
    expect(thrown.destroyed).toBe(true);
    const rejected = socketOf(bytes, [9]);
    await expect(demuxInto(rejected, { put: () => Promise.reject(new Error('write failed')) })).rejects.toThrow('write failed');
    expect(rejected.destroyed).toBe(true);
  });

  it('a stream that closes before its end is an error', async () => {
    const s = new PassThrough();
    setImmediate(() => {
      s.write(framed([Buffer.from('partial')]));
      setImmediate(() => s.destroy());
    });
    await expect(demuxInto(s, new Sink(false))).rejects.toThrow(/closed before its end/);
  });

  it('on a unix socket, a writer of many small frames is read in fewer, bigger reads, every byte in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ndt-demux-'));
    const path = join(dir, 'sock');
    const payloads = Array.from({ length: 400 }, (_, i) => randomBytes(512 + (i % 7)));
    const bytes = framed(payloads);
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer((s) => {
        server.close();
        resolve(s);
      }).listen(path);
    });
    const writer = connect(path);
    const reader = await accepted;
    // One frame a turn of the event loop, as a build writes its lines: the reader could take each alone.
    let i = 0;
    const frames = payloads.map((_, k) => framed([payloads[k]!]));
    const next = (): void => {
      if (i >= frames.length) return void writer.end();
      writer.write(frames[i++]!);
      setImmediate(next);
    };
    writer.once('connect', next);
    const sink = new Sink(false);
    await demuxInto(reader, sink);
    rmSync(dir, { recursive: true, force: true });
    expect(Buffer.concat(sink.got)).toEqual(Buffer.concat(payloads));
    expect(bytes.length).toBeGreaterThan(400 * 512);
    expect(sink.puts).toBeLessThan(payloads.length / 4);
  });
});

describe('FrameSplitter', () => {
  it("tells each piece's stream, whatever the cuts (headers cut too): stdout and stderr come back as written", () => {
    const payloads = Array.from({ length: 40 }, (_, i) => randomBytes(1 + ((i * 37) % 300)));
    const bytes = framed(payloads); // every third frame is stderr
    const want = {
      stdout: Buffer.concat(payloads.filter((_, i) => i % 3 !== 2)),
      stderr: Buffer.concat(payloads.filter((_, i) => i % 3 === 2)),
    };
    for (const step of [1, 3, 7, 8, 9, 64, 1000]) {
      const frames = new FrameSplitter();
      const got = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
      const order: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += step) {
        const streams: number[] = [];
        const pieces = frames.payloads(bytes.subarray(at, at + step), streams);
        expect(streams).toHaveLength(pieces.length);
        pieces.forEach((p, i) => {
          got[streams[i] === 2 ? 'stderr' : 'stdout'].push(Buffer.from(p));
          order.push(Buffer.from(p));
        });
      }
      expect(Buffer.concat(got.stdout)).toEqual(want.stdout);
      expect(Buffer.concat(got.stderr)).toEqual(want.stderr);
      expect(Buffer.concat(order)).toEqual(Buffer.concat(payloads));
    }
  });
});

// The one-exec step stream cut at the driver's end markers
// (src/runner/job/steps/step-splitter.ts): every byte of output reaches the
// sink of its step, markers never reach a sink, whatever the chunking.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { ChunkSink } from '../../src/chunk-sink.js';
import { StepSplitter } from '../../src/runner/job/steps/step-splitter.js';
import { driverToken } from '../../src/runner/job/steps/exec-driver.js';

/** A step's sink; a slow one takes each put a moment later and asks to wait for it, as build.log does when a write is under way. */
class Collect implements ChunkSink {
  chunks: Buffer[] = [];
  ended = false;
  pending = 0;
  constructor(private readonly slow = false) {}
  put(bufs: Buffer[]): Promise<void> | undefined {
    if (this.ended) throw new Error('put after the step ended');
    const copies = bufs.map((b) => Buffer.from(b));
    if (!this.slow) {
      this.chunks.push(...copies);
      return undefined;
    }
    this.pending++;
    return new Promise((r) =>
      setImmediate(() => {
        this.chunks.push(...copies);
        this.pending--;
        r();
      }),
    );
  }
  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Puts `stream` into `splitter` in pieces cut at `cuts` (each piece a batch of up to 3 buffers), waiting when asked, as the exec stream does; then finishes it. */
async function feed(splitter: StepSplitter, stream: Buffer, cuts: number[]): Promise<void> {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const at of [...cuts, stream.length]) {
    pieces.push(stream.subarray(from, at));
    from = at;
  }
  for (let i = 0; i < pieces.length; i += 1 + (i % 3)) await splitter.put(pieces.slice(i, i + 1 + (i % 3)));
  await splitter.finish();
}

/** Feeds `stream` to a splitter in pieces cut at `cuts`; returns each step's bytes and the markers seen. */
async function split(token: Buffer, stream: Buffer, cuts: number[], slow = false) {
  const sinks = [new Collect(slow)];
  const seen: Array<[number, number]> = [];
  const splitter = new StepSplitter(token, sinks[0]!, async (index, status) => {
    seen.push([index, status]);
    // As the runner does: a step's sink is ended, all of it written, before the next one begins.
    if (sinks.at(-1)!.pending) throw new Error("a marker was reported before its step's output was written");
    sinks.at(-1)!.ended = true;
    await new Promise((r) => setImmediate(r));
    sinks.push(new Collect(slow));
    return sinks.at(-1)!;
  });
  await feed(splitter, stream, cuts);
  return { outputs: sinks.map((s) => s.data), seen };
}

function streamOf(token: Buffer, outputs: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  outputs.forEach((o, i) => {
    parts.push(o);
    if (i < outputs.length - 1) parts.push(token, Buffer.from(` ${i} 0\n`));
  });
  return Buffer.concat(parts);
}

describe('StepSplitter', () => {
  it('gives each step its bytes and reports each marker, with the stream cut anywhere', async () => {
    const token = driverToken();
    for (let round = 0; round < 200; round++) {
      // Output with \x01 bytes and prefixes of the token, output ending without a newline, empty steps.
      const outputs = Array.from({ length: 1 + (round % 4) }, (_, i) =>
        i % 3 === 2
          ? Buffer.alloc(0)
          : Buffer.concat([randomBytes(round % 50), token.subarray(0, 1 + (round % (token.length - 1))), Buffer.from('line\n\x01x')]),
      );
      const stream = streamOf(token, outputs);
      const cuts = Array.from({ length: round % 7 }, () => Math.floor(Math.random() * stream.length)).sort((a, b) => a - b);
      const { outputs: got, seen } = await split(token, stream, cuts, round % 2 === 1);
      expect(got).toEqual(outputs);
      expect(seen).toEqual(outputs.slice(1).map((_, i) => [i, 0]));
    }
  });

  it('cut byte by byte, and a status other than 0', async () => {
    const token = driverToken();
    const stream = Buffer.concat([Buffer.from('a\nb'), token, Buffer.from(' 0 0\n'), Buffer.from('c'), token, Buffer.from(' 1 2\n')]);
    const { outputs, seen } = await split(
      token,
      stream,
      Array.from({ length: stream.length - 1 }, (_, i) => i + 1),
    );
    expect(outputs.map(String)).toEqual(['a\nb', 'c', '']);
    expect(seen).toEqual([
      [0, 0],
      [1, 2],
    ]);
  });

  it('the driver\'s "go" is taken out of the stream and noted, cut byte by byte or not', async () => {
    const token = driverToken();
    const stream = Buffer.concat([token, Buffer.from(' go\n'), Buffer.from('a\nb'), token, Buffer.from(' 0 0\n'), Buffer.from('c')]);
    for (const cuts of [[], Array.from({ length: stream.length - 1 }, (_, i) => i + 1)]) {
      const sinks = [new Collect()];
      const splitter = new StepSplitter(token, sinks[0]!, async () => {
        sinks.push(new Collect());
        return sinks.at(-1)!;
      });
      expect(splitter.started).toBe(false);
      await feed(splitter, stream, cuts);
      expect(splitter.started).toBe(true);
      expect(sinks.map((k) => k.data.toString())).toEqual(['a\nb', 'c']);
    }
  });

  it('a damaged marker is an error, not output', async () => {
    const token = driverToken();
    await expect(split(token, Buffer.concat([token, Buffer.from(' zero 0\n')]), [])).rejects.toThrow(/damaged end marker/);
  });

  it('an unfinished marker at the end is dropped; a held tail that was not one is output', async () => {
    const token = driverToken();
    expect((await split(token, Buffer.concat([Buffer.from('x'), token, Buffer.from(' 0')]), [])).outputs.map(String)).toEqual(['x']);
    const tail = Buffer.concat([Buffer.from('y'), token.subarray(0, 5)]);
    expect((await split(token, tail, [])).outputs).toEqual([tail]);
  });
});

describe('StepSplitter: a file carried after the steps', () => {
  it('takes the announced bytes out of the stream, whatever the cuts, and what follows is output again', async () => {
    const token = driverToken();
    const file = Buffer.concat([randomBytes(3000), token, Buffer.from(' 9 9\n')]); // the file may hold anything, even the token
    const sha = 'a'.repeat(64);
    const stream = Buffer.concat([
      Buffer.from('step 0 output'),
      token,
      Buffer.from(' 0 0\n'),
      token,
      Buffer.from(` file ${file.length} ${sha}\n`),
      file,
      Buffer.from('after'),
    ]);
    for (let round = 0; round < 50; round++) {
      const cuts = Array.from({ length: round % 9 }, () => Math.floor(Math.random() * stream.length)).sort((a, b) => a - b);
      const got: Array<{ data: Buffer; sha256: string | null }> = [];
      const sink = new Collect();
      const splitter = new StepSplitter(
        token,
        sink,
        async () => sink,
        (data, sha256) => got.push({ data, sha256 }),
      );
      await feed(splitter, stream, cuts);
      expect(got).toEqual([{ data: file, sha256: sha }]);
      expect(sink.data.toString('latin1')).toBe('step 0 outputafter');
    }
  });

  it('an empty file, a file without digest ("-"), an unfinished file (dropped), an oversized announcement (an error)', async () => {
    const token = driverToken();
    const run = async (tail: Buffer) => {
      const got: Array<{ data: Buffer; sha256: string | null }> = [];
      const splitter = new StepSplitter(
        token,
        new Collect(),
        async (_i, _s) => new Collect(),
        (data, sha256) => got.push({ data, sha256 }),
      );
      await feed(splitter, Buffer.concat([token, tail]), []);
      return got;
    };
    expect(await run(Buffer.from(' file 0 -\n'))).toEqual([{ data: Buffer.alloc(0), sha256: null }]);
    expect(await run(Buffer.from(' file 3 -\nabc'))).toEqual([{ data: Buffer.from('abc'), sha256: null }]);
    expect(await run(Buffer.from(' file 10 -\nabc'))).toEqual([]);
    await expect(run(Buffer.from(` file ${2 ** 40} -\n`))).rejects.toThrow(/more than it may carry/);
  });
});

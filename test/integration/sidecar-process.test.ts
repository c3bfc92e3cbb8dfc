// The sidecar as a process (node priv/sidecar.mjs) fed raw bytes: fuzzed and
// mutated frames, truncated input, oversized frames. It must never crash or
// hang, and must still answer a valid request afterwards. And that it runs
// from the bundle `npm run build` made in priv/.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/protocol/codec.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { ROOT } from './helpers/example.js';
import { startSidecar } from './helpers/sidecar-proc.js';

// A small deterministic PRNG so a failure can be replayed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

describe('sidecar process', () => {
  it('starts from the bundle that npm run build made, as priv/sidecar.mjs and as `nerves-docker sidecar`', async () => {
    const hello = async (argv?: string[]) => {
      const p = startSidecar(argv);
      const h = (await p.waitFor((m) => 'hello' in m)).hello as Record<string, unknown>;
      p.child.stdin.end();
      expect(await p.exit).toBe(0);
      return h;
    };
    expect(await hello()).toMatchObject({ loaded_from: 'bundle', version: expect.any(String) });
    expect(await hello([join(ROOT, 'priv/nerves-docker.mjs'), 'sidecar'])).toMatchObject({ loaded_from: 'bundle' });
  });

  it('says hello first, then answers ping', async () => {
    const p = startSidecar();
    const hello = await p.waitFor((m) => 'hello' in m);
    expect(p.frames[0]).toBe(hello);
    p.child.stdin.write(encodeFrame(encodeMessage({ id: 1, op: 'ping' })));
    expect(await p.waitFor((m) => m.id === 1)).toEqual({ id: 1, ok: 'pong' });
    p.child.stdin.end();
    expect(await p.exit).toBe(0);
  });

  it('a shutdown frame ends it with stdin still open: the request in flight aborted, cleanup run, exit 0 at once', async () => {
    const p = startSidecar();
    await p.waitFor((m) => 'hello' in m);
    p.child.stdin.write(encodeFrame(encodeMessage({ id: 1, op: 'sleep', args: { ms: 60_000 } })));
    await p.waitFor((m) => m.id === 1 && m.event === 'info');
    const t0 = Date.now();
    p.child.stdin.write(encodeFrame(encodeMessage({ shutdown: true })));
    expect(await p.exit).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('survives 100,000 random and mutated frames and still answers', async () => {
    const p = startSidecar();
    await p.waitFor((m) => 'hello' in m);
    const rand = rng(20261124);
    const valid = [
      encodeMessage({ id: 5, op: 'echo', args: { a: [1, 'x', null] } }),
      encodeMessage({ id: 6, op: 'nope', args: null }),
      encodeMessage({ id: 7, ref: 1, answer: true }),
      encodeMessage({ id: 8, cancel: true }),
      encodeMessage([1, 2, 3]),
    ];
    const chunks: Buffer[] = [];
    let queued = 0;
    for (let i = 0; i < 100_000; i++) {
      let body: Buffer;
      const kind = rand();
      if (kind < 0.4) {
        body = Buffer.alloc(Math.floor(rand() * 64));
        for (let j = 0; j < body.length; j++) body[j] = Math.floor(rand() * 256);
      } else {
        body = Buffer.from(valid[Math.floor(rand() * valid.length)]!);
        const flips = 1 + Math.floor(rand() * 3);
        for (let f = 0; f < flips; f++) body[Math.floor(rand() * body.length)] = Math.floor(rand() * 256);
        if (rand() < 0.2) body = body.subarray(0, Math.floor(rand() * body.length));
      }
      chunks.push(encodeFrame(body));
      queued += 1;
      if (chunks.length >= 2000) {
        if (!p.child.stdin.write(Buffer.concat(chunks.splice(0)))) await new Promise((r) => p.child.stdin.once('drain', r));
      }
    }
    p.child.stdin.write(Buffer.concat(chunks.splice(0)));
    expect(queued).toBe(100_000);
    // Ids that mutated frames may have produced are small; use a large one.
    p.child.stdin.write(encodeFrame(encodeMessage({ id: 999_999_999, op: 'echo', args: 'still here' })));
    expect(await p.waitFor((m) => m.id === 999_999_999, 60_000)).toEqual({ id: 999_999_999, ok: 'still here' });
    expect(p.child.exitCode).toBeNull();
    p.child.stdin.end();
    expect(await p.exit).toBe(0);
  }, 120_000);

  it('input that ends inside a frame: a message on stderr and a clean exit', async () => {
    const p = startSidecar();
    await p.waitFor((m) => 'hello' in m);
    p.child.stdin.end(Buffer.from([0, 0, 0, 10, 1, 2, 3]));
    expect(await p.exit).toBe(0);
    expect(p.stderr()).toContain('input ended inside a frame (3 of 10 body bytes)');
  });

  it('an oversized frame: an error frame, a message on stderr, exit status 2', async () => {
    const p = startSidecar();
    await p.waitFor((m) => 'hello' in m);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(64 * 1024 * 1024 + 1);
    p.child.stdin.write(h);
    expect(await p.waitFor((m) => m.id === null)).toMatchObject({ error: { code: 'frame_too_large' } });
    expect(await p.exit).toBe(2);
    expect(p.stderr()).toContain('framing lost');
  });

  it('stdin closing during a request makes it exit at once', async () => {
    const p = startSidecar();
    await p.waitFor((m) => 'hello' in m);
    p.child.stdin.write(encodeFrame(encodeMessage({ id: 1, op: 'sleep', args: { ms: 60_000 } })));
    await p.waitFor((m) => m.id === 1 && m.event === 'info');
    const t0 = Date.now();
    p.child.stdin.end();
    expect(await p.exit).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

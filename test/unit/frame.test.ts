import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameTooLargeError } from '../../src/protocol/frame.js';

describe('frames', () => {
  it('prefixes a body with its 4-byte big-endian length', () => {
    expect(encodeFrame(Buffer.from('abc')).toString('hex')).toBe('00000003616263');
    expect(encodeFrame(Buffer.alloc(0)).toString('hex')).toBe('00000000');
  });

  it('splits frames however the bytes are chunked', () => {
    const bodies = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('end')];
    const stream = Buffer.concat(bodies.map((b) => encodeFrame(b)));
    for (const size of [1, 2, 3, 5, 4096, stream.length]) {
      const d = new FrameDecoder();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) out.push(...d.push(stream.subarray(i, i + size)));
      expect(out.map((b) => b.toString('hex'))).toEqual(bodies.map((b) => b.toString('hex')));
      expect(d.leftover()).toBeNull();
    }
  });

  it('reports an unfinished frame at end of input', () => {
    const d = new FrameDecoder();
    d.push(Buffer.from([0, 0, 0, 9, 1, 2]));
    expect(d.leftover()).toMatch(/2 of 9 body bytes/);
    const h = new FrameDecoder();
    h.push(Buffer.from([0, 0]));
    expect(h.leftover()).toMatch(/header \(2 of 4/);
  });

  it('rejects a declared length past the maximum, both ways', () => {
    const d = new FrameDecoder(100);
    expect(() => d.push(Buffer.from([0, 0, 0, 101]))).toThrow(FrameTooLargeError);
    expect(() => encodeFrame(Buffer.alloc(101), 100)).toThrow(/101 bytes exceeds the maximum of 100/);
  });
});

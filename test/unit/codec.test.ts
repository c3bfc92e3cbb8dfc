import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../src/protocol/codec.js';
import { parseInbound } from '../../src/protocol/messages.js';

describe('msgpack codec', () => {
  it('sends integers beyond 32 bits as integers, not floats', () => {
    // 2^40 as int64 (0xd3), not float64 (0xcb).
    expect(encodeMessage(2 ** 40).toString('hex')).toBe('d30000010000000000');
    expect(encodeMessage(-(2 ** 40)).toString('hex')).toBe('d3ffffff0000000000');
    expect(encodeMessage(4294967295).toString('hex')).toBe('ceffffffff');
    expect(encodeMessage(1.5).toString('hex')).toBe('cb3ff8000000000000');
  });

  it('keeps 64-bit integers exact on the way in', () => {
    expect(decodeMessage(Buffer.from('cfffffffffffffffff', 'hex'))).toBe(18446744073709551615n);
    expect(decodeMessage(Buffer.from('d38000000000000000', 'hex'))).toBe(-9223372036854775808n);
    expect(decodeMessage(encodeMessage(18446744073709551615n))).toBe(18446744073709551615n);
  });

  it('writes plain maps (no records), nil for undefined, bin for bytes', () => {
    const bytes = encodeMessage({ a: undefined, b: Buffer.from([1, 2]) });
    expect(bytes.includes(0x72)).toBe(false);
    expect(decodeMessage(bytes)).toEqual({ a: null, b: Buffer.from([1, 2]) });
  });

  it('throws on trailing bytes and unknown ext types', () => {
    expect(() => decodeMessage(Buffer.from('0102', 'hex'))).toThrow();
    expect(() => decodeMessage(Buffer.from('d40101', 'hex'))).toThrow();
  });
});

describe('inbound messages', () => {
  it('classifies requests, answers and cancels', () => {
    expect(parseInbound({ id: 1, op: 'echo', args: [1] })).toEqual({ kind: 'request', id: 1, op: 'echo', args: [1] });
    expect(parseInbound({ id: 1, op: 'ping' })).toMatchObject({ kind: 'request', args: null });
    expect(parseInbound({ id: 2, ref: 3, answer: true })).toEqual({ kind: 'answer', id: 2, ref: 3, answer: true });
    expect(parseInbound({ id: 2, cancel: true })).toEqual({ kind: 'cancel', id: 2 });
    expect(parseInbound({ shutdown: true })).toEqual({ kind: 'shutdown' });
  });

  it('says what is wrong with a bad message', () => {
    expect(() => parseInbound([1])).toThrow(/must be a map/);
    expect(() => parseInbound({ op: 'x' })).toThrow(/integer "id"/);
    expect(() => parseInbound({ id: 1, op: 5 })).toThrow(/"op" must be a string/);
    expect(() => parseInbound({ id: 1 })).toThrow(/needs "op", "answer" or "cancel"/);
  });
});

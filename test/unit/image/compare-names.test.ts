// compareNames orders names as their UTF-8 bytes do, whatever characters
// they hold (its fast path compares UTF-16 code units).
import { describe, expect, it } from 'vitest';
import { compareNames } from '../../../src/image/fs-entries.js';

const ALPHABET = ['a', 'b', '/', '-', '.', 'é', 'ÿ', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffee', '😀', '😁', '𐀀', '\u{10ffff}'];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const bytewise = (a: string, b: string) => Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));

describe('compareNames', () => {
  it('agrees with a comparison of the UTF-8 bytes on random names (astral, BMP above the surrogates, ASCII)', () => {
    const rand = rng(5);
    const word = () => Array.from({ length: Math.floor(rand() * 6) }, () => ALPHABET[Math.floor(rand() * ALPHABET.length)]).join('');
    for (let i = 0; i < 20_000; i++) {
      const prefix = rand() < 0.5 ? word() : '';
      const a = prefix + word();
      const b = prefix + word();
      expect([a, b, Math.sign(compareNames(a, b))]).toEqual([a, b, bytewise(a, b)]);
    }
  });

  it('puts U+E000 after an astral character (UTF-16 would not), and a prefix first', () => {
    expect(compareNames('x\ue000', 'x😀')).toBeLessThan(0);
    expect(compareNames('😀', '😁')).toBeLessThan(0);
    expect(compareNames('a', 'a/b')).toBeLessThan(0);
    expect(compareNames('a-c', 'a/b')).toBeLessThan(0);
    expect(compareNames('same', 'same')).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { headlineOf, HeadlineScanner, MAX_HEADLINE } from '../../src/runner/output/headlines.js';

function scan(chunks: Array<string | Buffer>): string[] {
  const out: string[] = [];
  const s = new HeadlineScanner((h) => out.push(h));
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c);
  s.flush();
  return out;
}

describe('headlines', () => {
  it('takes lines that begin with >>> or ESC[7m>>>, trimmed', () => {
    expect(headlineOf(Buffer.from('>>> busybox 1.36.1 Building  '))).toBe('>>> busybox 1.36.1 Building');
    expect(headlineOf(Buffer.from(' >>> not at the start'))).toBeNull();
    expect(headlineOf(Buffer.from('gcc -c foo.c'))).toBeNull();
    expect(headlineOf(Buffer.from('\x1b[7m>>> zlib 1.3 Extracting\x1b[27m'))).toBe('\x1b[7m>>> zlib 1.3 Extracting\x1b[27m');
  });

  it('cuts an inverse headline at the next ESC[7m and resets the colour', () => {
    expect(headlineOf(Buffer.from('\x1b[7m>>> a\x1b[7m>>> b'))).toBe('\x1b[7m>>> a\x1b[0m');
  });

  it('finds every headline however the output is chunked, in order', () => {
    const text = Array.from({ length: 50 }, (_, i) => `line ${i}\n>>> pkg ${i} Building\n`).join('');
    const expected = Array.from({ length: 50 }, (_, i) => `>>> pkg ${i} Building`);
    for (const size of [1, 7, 64, 1000, text.length]) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      expect(scan(chunks)).toEqual(expected);
    }
  });

  it('finds inverse headlines and near misses split at any byte', () => {
    const text = '\x1b[7m>>> a 1 Building\x1b[27m\n\x1b[7mnot a headline\n>>\n>>>\n\x1b[7m>>\n>> > no\nx>>> no\n>>> b 2 Installing\n';
    const expected = ['\x1b[7m>>> a 1 Building\x1b[27m', '>>>', '>>> b 2 Installing'];
    for (let cut = 1; cut < text.length; cut++) expect(scan([text.slice(0, cut), text.slice(cut)])).toEqual(expected);
    expect(scan(text.split(''))).toEqual(expected);
  });

  it('counts a last line without a newline, and CRLF endings', () => {
    expect(scan(['x\r\n>>> one\r\n>>> two'])).toEqual(['>>> one', '>>> two']);
  });

  it('keeps only a prefix of a huge line', () => {
    const huge = Buffer.alloc(5_000_000, 0x41);
    expect(scan([huge, '\n>>> after\n'])).toEqual(['>>> after']);
    const long = scan(['>>> ', Buffer.alloc(100_000, 0x42), '\n']);
    expect(long[0]!.length).toBe(MAX_HEADLINE);
  });

  it('finds what a line-by-line reading finds, on random output cut at random places', () => {
    // Pieces that make headlines, near misses and their prefixes meet chunk edges often; a seeded generator keeps failures reproducible.
    const pieces = [
      '>>>',
      '>>> h\n',
      '\x1b[7m>>> i\n',
      '>>',
      '>',
      '\x1b[7m',
      '\x1b[',
      '\x1b',
      '\n',
      '\r\n',
      ' pkg 1.0 Building',
      'CC x.o',
      'x>>>',
      '\x1b[27m',
    ];
    let seed = 17;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 2000; round++) {
      let text = '';
      for (let k = rand(60); k >= 0; k--) text += pieces[rand(pieces.length)];
      const expected = text
        .split('\n')
        .map((line) => headlineOf(Buffer.from(line)))
        .filter((h): h is string => h !== null);
      const chunks: string[] = [];
      for (let i = 0; i < text.length;) {
        const size = 1 + rand(12);
        chunks.push(text.slice(i, i + size));
        i += size;
      }
      expect(scan(chunks)).toEqual(expected);
    }
  });

  it('survives NUL bytes and invalid UTF-8', () => {
    expect(scan([Buffer.from([0, 0xff, 0xfe, 0x0a]), '>>> ok\x00\n'])).toEqual(['>>> ok\x00']);
  });
});

#!/usr/bin/env node
// Headline scanning, in memory (no engine): the runner's HeadlineScanner
// (dist/runner/output/headlines.js, which looks only at the first bytes of each
// line and copies nothing unless the line is a headline) against the obvious
// scanner that splits the text at newlines (below). Same input for both: the OUTPUT_MB generator's lines (system.mk's awk, reproduced
// here) in 64 KiB chunks; both must report the same headlines, also on an
// edge-case corpus cut at random places (ESC[7m headlines, CRLF, NULs,
// invalid UTF-8, 50 MB lines, headlines split across chunks).
//
//   node bench/headline-scan.mjs [--mb N]    (default 256)
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { ROOT, argOf, f1, machineLine, stats, table } from './lib/common.mjs';

const { HeadlineScanner, headlineOf, MAX_HEADLINE } = await import(join(ROOT, 'dist/runner/output/headlines.js'));

// ---- the baseline: the obvious scanner (decode to text, cut out each line,
// test its start), which turns every byte of output into strings.
class NaiveScanner {
  constructor(onHeadline) {
    this.onHeadline = onHeadline;
    this.carry = '';
  }

  push(chunk) {
    // Every chunk decoded to a string, every line cut out as a string; only a
    // line's first MAX_HEADLINE characters are kept (a 50 MB line would
    // otherwise be copied again with every chunk).
    const text = chunk.toString('latin1');
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) {
        if (this.carry.length < MAX_HEADLINE) this.carry += text.slice(start, start + MAX_HEADLINE - this.carry.length);
        return;
      }
      this.line((this.carry + text.slice(start, nl)).slice(0, MAX_HEADLINE));
      this.carry = '';
      start = nl + 1;
    }
  }

  flush() {
    if (this.carry) this.line(this.carry);
    this.carry = '';
  }

  line(text) {
    if (text.startsWith('>>>') || text.startsWith('\x1b[7m>>>')) {
      const h = headlineOf(Buffer.from(text.slice(0, MAX_HEADLINE), 'latin1'));
      if (h !== null) this.onHeadline(h);
    }
  }
}

// ---- input
function generate(mb) {
  // system.mk's OUTPUT_MB awk program, line for line
  const limit = mb * 1048576;
  const pad = '-O2 -pipe -fno-strict-aliasing -D_FILE_OFFSET_BITS=64 -DNERVES_MINIATURE';
  const parts = [];
  let bytes = 0;
  let n = 0;
  let block = '';
  while (bytes < limit) {
    if (n % 10000 === 0) {
      const line = `>>> erlang 27.2 Building (output lines ${n + 1}-${n + 10000})\n`;
      block += line;
      bytes += line.length;
    }
    n++;
    const line = `  CC      erts/emulator/beam/obj${String(n).padStart(7, '0')}.o ${pad}\n`;
    block += line;
    bytes += line.length;
    if (block.length > 1 << 20) {
      parts.push(Buffer.from(block, 'latin1'));
      block = '';
    }
  }
  parts.push(Buffer.from(block, 'latin1'));
  return Buffer.concat(parts);
}

function edgeCorpus() {
  const pieces = [
    '>>> plain headline\n',
    '\x1b[7m>>> inverse headline\x1b[0m\n',
    '\x1b[7m>>> two\x1b[7m>>> in one line\n',
    '>>> crlf headline\r\n',
    '>>\n>\n\x1b[7m>>\n\x1b\n',
    '  >>> indented, not a headline\n',
    '>>>\n',
    '>>>    \n',
    `>>> long ${'x'.repeat(5000)}\n`,
    'nul \0 bytes \0\n>>> after nul \0 x\n',
    Buffer.from([0xff, 0xfe, 0x0a, 0x3e, 0x3e, 0x3e, 0x20, 0xc3, 0x28, 0x0a]),
    `${'y'.repeat(50 * 1024 * 1024)}\n`,
    '>>> after a 50 MB line\n',
    '>>> last line without newline',
  ];
  return Buffer.concat(pieces.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1'))));
}

function chunks(buf, size) {
  const out = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

function randomChunks(buf) {
  const out = [];
  let i = 0;
  while (i < buf.length) {
    const size = randomInt(1, randomInt(0, 4) === 0 ? 9 : 200000);
    out.push(buf.subarray(i, i + size));
    i += size;
  }
  return out;
}

function run(Scanner, input) {
  const found = [];
  const s = new Scanner((t) => found.push(t));
  const t0 = performance.now();
  for (const c of input) s.push(c);
  s.flush();
  return { found, seconds: (performance.now() - t0) / 1000 };
}

export async function main() {
  const mb = Number(argOf('mb', 256));
  const data = generate(mb);
  const input = chunks(data, 65536);
  const R = { runner: [], naive: [] };
  let same = true;
  let count = 0;
  for (let rep = 0; rep < 3; rep++) {
    const a = run(HeadlineScanner, input);
    const b = run(NaiveScanner, input);
    R.runner.push(data.length / 1e6 / a.seconds);
    R.naive.push(data.length / 1e6 / b.seconds);
    same &&= a.found.length === b.found.length && a.found.every((t, k) => t === b.found[k]);
    count = a.found.length;
  }
  const edge = edgeCorpus();
  let edgeSame = true;
  let edgeCount = 0;
  for (let rep = 0; rep < 20; rep++) {
    const cut = rep === 0 ? [edge] : randomChunks(edge);
    const a = run(HeadlineScanner, cut);
    const b = run(NaiveScanner, cut);
    edgeSame &&= a.found.length === b.found.length && a.found.every((t, k) => t === b.found[k]);
    edgeCount = a.found.length;
  }
  const sr = stats(R.runner);
  const sp = stats(R.naive);
  const out = [];
  out.push(
    `headline scanning in memory: ${f1(data.length / 1e6)} MB of OUTPUT_MB lines in 64 KiB chunks, 3 passes (MB/s, MB = 10^6 bytes)`,
  );
  out.push(
    table([
      ['scanner', 'median', 'min', 'max'],
      ['runner: HeadlineScanner (line starts only)', f1(sr.median), f1(sr.min), f1(sr.max)],
      ['baseline: decode to text, cut out every line', f1(sp.median), f1(sp.min), f1(sp.max)],
    ]),
  );
  out.push(
    `same headlines: ${same ? 'yes' : 'NO'} (${count}); edge corpus, 20 random cuts: ${edgeSame ? 'same' : 'DIFFERENT'} (${edgeCount} headlines)`,
  );
  out.push(machineLine());
  const text = out.join('\n');
  console.log(text);
  return { text };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

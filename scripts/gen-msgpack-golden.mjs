#!/usr/bin/env node
// Generates mix_plugin/test/fixtures/msgpack_golden.json: msgpack bytes
// produced by msgpackr (exactly as the TypeScript sidecar configures it) plus a
// typed description of the Elixir term each one must decode to. The Elixir
// codec (NervesDockerTs.Msgpack) is tested against this file in
// mix_plugin/test/msgpack_test.exs, so both ends of the port agree on bytes.
//
// Run from the repository root: node scripts/gen-msgpack-golden.mjs
//
// File format: { "generator", "msgpackr", "cases": [case...] } where a case is
//   { "name": string,
//     "hex": msgpackr's encoding, lowercase hex,
//     "exact": true when NervesDockerTs.Msgpack.encode/1 of the term must give
//              exactly these bytes (false where msgpackr picks a different,
//              still valid header: map16 for objects, int64 for BigInts, float32),
//     "term": typed term, see below }
//
// Typed terms (rebuilt by the Elixir test):
//   {"t":"nil"}                       nil
//   {"t":"bool","v":true|false}       true / false
//   {"t":"int","v":"<decimal>"}       integer (string, so 64-bit values survive JSON)
//   {"t":"float","v":<number>,"bits":"<16 hex digits>"}  float; "bits" is the IEEE-754
//                                     double, authoritative; "v" is for humans
//   {"t":"str","v":"<text>"}          UTF-8 binary
//   {"t":"str_repeat","unit":"<text>","n":N}  the text repeated N times
//   {"t":"bin","hex":"<hex>"}         bin value: {:bin, b} with bin_as: :tuple, else b
//   {"t":"bin_seq","n":N}             bin of N bytes, byte i = i mod 256
//   {"t":"array","v":[typed...]}      list
//   {"t":"array_seq","n":N,"mod":M}   list of N integers, element i = i mod M
//   {"t":"map","v":[[typedKey,typedValue]...]}  map

import { writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Packr, FLOAT32_OPTIONS } from 'msgpackr';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outPath = join(root, 'mix_plugin', 'test', 'fixtures', 'msgpack_golden.json');

// The sidecar's configuration.
const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });
// Only used for the float32 vector (msgpackr never writes float32 by default).
const packrFloat32 = new Packr({ useRecords: false, int64AsType: 'bigint', useFloat32: FLOAT32_OPTIONS.ALWAYS });

const msgpackrVersion = JSON.parse(readFileSync(join(root, 'node_modules', 'msgpackr', 'package.json'), 'utf8')).version;

// msgpackr writes a JS number as an integer only if it is an int32 or uint32.
const isWireInt = (n) => n >>> 0 === n || n >> 0 === n;

function floatBits(n) {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n);
  return b.toString('hex');
}

function describe(v) {
  if (v === null) return { t: 'nil' };
  if (typeof v === 'boolean') return { t: 'bool', v };
  if (typeof v === 'bigint') return { t: 'int', v: v.toString() };
  if (typeof v === 'number') {
    if (isWireInt(v) && !Object.is(v, -0)) return { t: 'int', v: String(v) };
    return { t: 'float', v, bits: floatBits(v) };
  }
  if (typeof v === 'string') return { t: 'str', v };
  if (Buffer.isBuffer(v)) return { t: 'bin', hex: v.toString('hex') };
  if (Array.isArray(v)) return { t: 'array', v: v.map(describe) };
  if (v instanceof Map) return { t: 'map', v: [...v].map(([k, x]) => [describe(k), describe(x)]) };
  if (typeof v === 'object') return { t: 'map', v: Object.entries(v).map(([k, x]) => [describe(k), describe(x)]) };
  throw new Error(`cannot describe ${typeof v}`);
}

// Inverse of describe (plus the compact forms), used to check that every
// hand-written compact description really is the value that was packed.
function rebuild(d) {
  switch (d.t) {
    case 'nil':
      return null;
    case 'bool':
      return d.v;
    case 'int': {
      const b = BigInt(d.v);
      return b >= -(2n ** 31n) && b < 2n ** 32n ? Number(b) : b;
    }
    case 'float':
      return Buffer.from(d.bits, 'hex').readDoubleBE();
    case 'str':
      return d.v;
    case 'str_repeat':
      return d.unit.repeat(d.n);
    case 'bin':
      return Buffer.from(d.hex, 'hex');
    case 'bin_seq':
      return seqBuffer(d.n);
    case 'array':
      return d.v.map(rebuild);
    case 'array_seq':
      return Array.from({ length: d.n }, (_, i) => i % d.mod);
    case 'map':
      return new Map(d.v.map(([k, x]) => [rebuild(k), rebuild(x)]));
    default:
      throw new Error(`unknown type ${d.t}`);
  }
}

// Normalizes plain objects to Maps so rebuild(describe(v)) can be compared to v.
function normalize(v) {
  if (Array.isArray(v)) return v.map(normalize);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [normalize(k), normalize(x)]));
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return new Map(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  }
  return v;
}

function seqBuffer(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i & 0xff;
  return b;
}

const keyed = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
const range = (n) => Array.from({ length: n }, (_, i) => i);

// Would NervesDockerTs.Msgpack.encode/1 produce exactly msgpackr's bytes?
// Maps: no (msgpackr uses map16 for every object). BigInts: msgpackr writes
// int64 (0xd3) for anything in int64 range, Elixir picks the smallest form, so
// they agree only below -2^31 (int64 either way) and at or above 2^63 (uint64).
function exactFor(v) {
  if (typeof v === 'bigint') return v < -(2n ** 31n) || v >= 2n ** 63n;
  if (Array.isArray(v)) return v.every(exactFor);
  if (v instanceof Map) return false;
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) return false;
  return true;
}

const cases = [];

function add(name, value, opts = {}) {
  const bytes = (opts.packr ?? packr).pack(value);
  const term = opts.term ?? describe(value);
  if (!isDeepStrictEqual(rebuild(term), normalize(value))) {
    throw new Error(`description of ${name} does not rebuild the packed value`);
  }
  if (opts.firstByte !== undefined && bytes[0] !== opts.firstByte) {
    throw new Error(`${name}: expected first byte 0x${opts.firstByte.toString(16)}, got 0x${bytes[0].toString(16)}`);
  }
  cases.push({ name, hex: Buffer.from(bytes).toString('hex'), exact: opts.exact ?? exactFor(value), term });
}

// nil / booleans
add('nil', null, { firstByte: 0xc0 });
add('true', true, { firstByte: 0xc3 });
add('false', false, { firstByte: 0xc2 });

// non-negative integers
add('int 0', 0, { firstByte: 0x00 });
add('int 127 (fixint max)', 127, { firstByte: 0x7f });
add('int 128 (uint8)', 128, { firstByte: 0xcc });
add('int 255', 255, { firstByte: 0xcc });
add('int 256 (uint16)', 256, { firstByte: 0xcd });
add('int 65535', 65535, { firstByte: 0xcd });
add('int 65536 (uint32)', 65536, { firstByte: 0xce });
add('int 2^32-1', 2 ** 32 - 1, { firstByte: 0xce });
add('int 2^32 (BigInt, msgpackr int64)', 2n ** 32n, { firstByte: 0xd3 });
add('int 2^63-1 (BigInt, msgpackr int64)', 2n ** 63n - 1n, { firstByte: 0xd3 });
add('int 2^63 (BigInt, uint64)', 2n ** 63n, { firstByte: 0xcf });
add('int 2^64-1 (BigInt, uint64)', 2n ** 64n - 1n, { firstByte: 0xcf });

// negative integers
add('int -1', -1, { firstByte: 0xff });
add('int -32 (negative fixint min)', -32, { firstByte: 0xe0 });
add('int -33 (int8)', -33, { firstByte: 0xd0 });
add('int -128', -128, { firstByte: 0xd0 });
add('int -129 (int16)', -129, { firstByte: 0xd1 });
add('int -32768', -32768, { firstByte: 0xd1 });
add('int -32769 (int32)', -32769, { firstByte: 0xd2 });
add('int -2^31', -(2 ** 31), { firstByte: 0xd2 });
add('int -2^31-1 (BigInt, int64)', -(2n ** 31n) - 1n, { firstByte: 0xd3 });
add('int -2^63 (BigInt, int64)', -(2n ** 63n), { firstByte: 0xd3 });

// floats
add('float 1.5', 1.5, { firstByte: 0xcb });
add('float -0.25', -0.25, { firstByte: 0xcb });
add('float 1e300', 1e300, { firstByte: 0xcb });
add('float 0.1', 0.1, { firstByte: 0xcb });
add('float32 1.5 (decode only)', 1.5, { packr: packrFloat32, firstByte: 0xca, exact: false });
add('float32 -0.25 (decode only)', -0.25, { packr: packrFloat32, firstByte: 0xca, exact: false });

// strings
add('str empty', '', { firstByte: 0xa0 });
add('str "a"', 'a', { firstByte: 0xa1 });
add('str 31 bytes (fixstr max)', 'x'.repeat(31), { firstByte: 0xbf });
add('str 32 bytes (str8)', 'y'.repeat(32), { firstByte: 0xd9 });
add('str 255 bytes', 'z'.repeat(255), { firstByte: 0xd9 });
add('str 256 bytes (str16)', 'w'.repeat(256), { firstByte: 0xda });
add('str 65536 bytes (str32)', 'a'.repeat(65536), {
  firstByte: 0xdb,
  term: { t: 'str_repeat', unit: 'a', n: 65536 },
});
add('str unicode', 'héllo ✓ 😀', { firstByte: 0xaf });
add('str unicode 300 bytes (str16, 100 JS chars)', '✓'.repeat(100), { firstByte: 0xda });

// bins
add('bin 0 bytes', Buffer.alloc(0), { firstByte: 0xc4 });
add('bin 1 byte', Buffer.from([0xff]), { firstByte: 0xc4 });
add('bin 255 bytes', seqBuffer(255), { firstByte: 0xc4 });
add('bin 256 bytes (bin16)', seqBuffer(256), { firstByte: 0xc5 });
add('bin 65536 bytes (bin32)', seqBuffer(65536), { firstByte: 0xc6, term: { t: 'bin_seq', n: 65536 } });
add('bin not UTF-8', Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), { firstByte: 0xc4 });

// arrays
add('array empty', [], { firstByte: 0x90 });
add('array 15 (fixarray max)', range(15), { firstByte: 0x9f });
add('array 16 (array16)', range(16), { firstByte: 0xdc });
add(
  'array 65536 (array32)',
  range(65536).map((i) => i % 128),
  {
    firstByte: 0xdd,
    term: { t: 'array_seq', n: 65536, mod: 128 },
  },
);
add('array mixed scalars', [null, true, false, -1, 300, 2.5, 'x', Buffer.from([1, 2])], { firstByte: 0x98 });

// maps (plain objects are always map16 in msgpackr)
add('map empty (msgpackr map16)', {}, { firstByte: 0xde });
add('map 1 key (msgpackr map16)', { a: 1 }, { firstByte: 0xde });
add('map 15 keys (msgpackr map16)', keyed(15), { firstByte: 0xde });
add('map 16 keys (map16)', keyed(16), { firstByte: 0xde });
add(
  'map from JS Map, 2 entries (fixmap, non-string keys)',
  new Map([
    [1, 'one'],
    [-2, [true]],
  ]),
  { firstByte: 0x82 },
);
add('map from JS Map, 16 entries (map16)', new Map(range(16).map((i) => [`m${i}`, i])), { firstByte: 0xde });

// nesting
add(
  'nested',
  {
    id: 42,
    name: 'build ✓',
    tags: ['a', 'b', []],
    opts: { verbose: true, level: null, ratio: 0.5, big: 2n ** 64n - 1n, neg: -(2n ** 63n) },
    blobs: [Buffer.from([0, 1, 2]), Buffer.alloc(0)],
    deep: [[[{ x: [[[]]] }]]],
  },
  { firstByte: 0xde },
);
add('nested arrays (exact)', [[1, [2, [3, ['four', [null]]]]], [], [[-129, 65536]]], { firstByte: 0x93 });
add('array of maps', [{}, { k: {} }, { k: [{ z: 'z' }] }], { firstByte: 0x93 });

mkdirSync(dirname(outPath), { recursive: true });
const doc = { generator: 'scripts/gen-msgpack-golden.mjs', msgpackr: msgpackrVersion, cases };
writeFileSync(outPath, JSON.stringify(doc, null, 1) + '\n');
console.log(`wrote ${cases.length} cases to ${outPath}`);

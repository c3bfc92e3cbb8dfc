// msgpack encoding of protocol messages, set up for the Elixir peer:
// plain maps (no records), 64-bit integers exact in both directions,
// undefined sent as nil, bytes as bin and text as str.
// 'msgpackr/pack' is msgpackr's pure-JS build under Node: the main entry also
// loads the native msgpackr-extract addon (~25 ms of every sidecar start),
// which only pays off for large buffers; these frames are small.
import { Packr, Unpackr } from 'msgpackr/pack';

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });

const INT32_MIN = -(2 ** 31);
const UINT32_MAX = 2 ** 32 - 1;

/**
 * msgpackr writes a JS integer outside 32 bits as float64; the Elixir side
 * would then see a float. Safe integers beyond 32 bits are sent as int64.
 */
function widenIntegers(value: unknown): unknown {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && (value < INT32_MIN || value > UINT32_MAX)) return BigInt(value);
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map(widenIntegers);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = widenIntegers(v);
  return out;
}

export function encodeMessage(value: unknown): Buffer {
  return packr.pack(widenIntegers(value));
}

/** Decodes one whole message; throws on malformed input, ext types and trailing bytes. */
export function decodeMessage(body: Uint8Array): unknown {
  return unpackr.unpack(body);
}

// A layer: something that can produce its uncompressed tar stream as often
// as needed (twice when writing a file: once to hash, once to write; once
// when streaming, hashed on the way), plus the digest and size of that
// stream once measured.
import { measure } from './digest.js';
import { tarSize, writeTar, type TarEntry } from './tar-writer.js';
import { readRange } from './tar-reader.js';
import { stat } from 'node:fs/promises';
import type { ChunkPool } from './chunk-pool.js';
import { untilAborted } from './abort.js';

export interface Layer {
  /**
   * Uncompressed tar stream; must give identical bytes on every call. With
   * `pool`, what it writes itself goes into the pool's buffers (writeTar's
   * rule: each yielded once, the reader may hand it back).
   */
  open(opts?: { pool?: ChunkPool }): AsyncIterable<Buffer>;
  /** History comment for the image config. */
  comment: string;
  /** Set when known in advance (base layers). */
  diffId?: string;
  size?: number;
  /** The size of open()'s stream, found without producing it (from the entries' sizes). */
  tarSize?(): number;
}

export interface MeasuredLayer extends Layer {
  diffId: string;
  size: number;
}

export function entriesLayer(entries: TarEntry[], comment: string): Layer {
  return { open: (opts) => writeTar(entries, opts), comment, tarSize: () => tarSize(entries) };
}

/** A layer stored as an uncompressed tar file on disk. */
export async function fileLayer(path: string, comment: string, diffId?: string): Promise<Layer> {
  const size = (await stat(path)).size;
  return { open: () => readRange(path, 0, size), comment, size, ...(diffId ? { diffId } : {}) };
}

export async function measureLayer(layer: Layer, signal?: AbortSignal): Promise<MeasuredLayer> {
  if (layer.diffId !== undefined && layer.size !== undefined) return layer as MeasuredLayer;
  const m = await measure(untilAborted(layer.open(), signal));
  return { ...layer, diffId: m.digest, size: m.size };
}

/** Measure each layer (one pass over its inputs, stopped by `signal`); writers re-check the digest on the second pass. */
export async function measureLayers(layers: Layer[], signal?: AbortSignal): Promise<MeasuredLayer[]> {
  const out: MeasuredLayer[] = [];
  for (const l of layers) out.push(await measureLayer(l, signal));
  return out;
}

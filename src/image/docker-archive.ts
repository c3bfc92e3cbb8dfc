// docker-archive writer (the `docker save` / `docker load` format): each
// layer as <diffid>/layer.tar, the config as <digest>.json, then
// manifest.json. Streams; layers are produced a second time while writing
// and checked against the digest measured before.
//
// streamingDockerArchive is the one-pass variant for streams: each layer is
// hashed while it is written, under a name that does not need its digest
// (<position>/layer.tar), and the config and manifest.json, which do, come
// last. docker load, skopeo and podman read manifest.json before any layer
// (dockerd unpacks the whole archive first), so the order does not matter
// to them.
import { createHash } from 'node:crypto';
import { hexOf } from './digest.js';
import { measureLayer, type Layer, type MeasuredLayer } from './layer.js';
import { writeTar, type TarEntry } from './tar-writer.js';
import { tarEntry } from './tar-header.js';
import type { ChunkPool } from './chunk-pool.js';
import { ROOT_OWNER } from './fs-entries.js';
import { OpError } from '../errors.js';

export interface ImageParts {
  layers: MeasuredLayer[];
  configJson: Buffer;
  configDigest: string;
  repoTags: string[];
  mtime: number;
}

const CHANGED_HINT = 'A file was modified while the image was built: build again when nothing writes to the inputs.';

/** Re-produce a layer and fail if it no longer matches its measured digest. */
export function verifiedLayer(layer: MeasuredLayer): AsyncIterable<Buffer> {
  return hashing(layer.open(), (got, size) => {
    if (got !== layer.diffId || size !== layer.size) {
      throw new OpError(
        'inputs_changed',
        `layer "${layer.comment}" changed between passes (${layer.diffId} then ${got}): inputs were modified during the build`,
        CHANGED_HINT,
      );
    }
  });
}

/** Yields `source`'s chunks; at its end, `done` gets their sha256 ("sha256:hex") and total size, and may throw. */
async function* hashing(source: AsyncIterable<Buffer>, done: (digest: string, size: number) => void): AsyncIterable<Buffer> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of source) {
    h.update(chunk);
    size += chunk.length;
    yield chunk;
  }
  done(`sha256:${h.digest('hex')}`, size);
}

/** manifest.json of a docker-archive. */
export function dockerManifestOf(configDigest: string, repoTags: string[], diffIds: string[]): Buffer {
  const manifest = [
    {
      Config: `${hexOf(configDigest)}.json`,
      RepoTags: repoTags,
      Layers: diffIds.map(layerPath),
    },
  ];
  return Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8');
}

export function dockerManifest(parts: ImageParts): Buffer {
  return dockerManifestOf(
    parts.configDigest,
    parts.repoTags,
    parts.layers.map((l) => l.diffId),
  );
}

/** Where a layer goes in a docker-archive. */
export function layerPath(diffId: string): string {
  return `${hexOf(diffId)}/layer.tar`;
}

/** A file entry of a docker-archive (mode 0644, owned by root). */
export function archiveFile(name: string, size: number, mtime: number, extra: Partial<TarEntry> = {}): TarEntry {
  return Object.assign(tarEntry(name, 'file', 0o644, size, ROOT_OWNER, mtime), extra);
}

/**
 * The entries after the layers: the config, then manifest.json. The layers
 * come first, in the manifest's order, each diff_id once.
 */
export function* dockerArchiveTail(parts: Omit<ImageParts, 'layers'>, diffIds: string[]): Iterable<TarEntry> {
  yield archiveFile(`${hexOf(parts.configDigest)}.json`, parts.configJson.length, parts.mtime, { data: parts.configJson });
  const manifest = dockerManifestOf(parts.configDigest, parts.repoTags, diffIds);
  yield archiveFile('manifest.json', manifest.length, parts.mtime, { data: manifest });
}

export function dockerArchiveStream(parts: ImageParts): AsyncIterable<Buffer> {
  function* entries(): Iterable<TarEntry> {
    const seen = new Set<string>();
    for (const layer of parts.layers) {
      if (seen.has(layer.diffId)) continue;
      seen.add(layer.diffId);
      yield archiveFile(layerPath(layer.diffId), layer.size, parts.mtime, { stream: () => verifiedLayer(layer) });
    }
    yield* dockerArchiveTail(
      parts,
      parts.layers.map((l) => l.diffId),
    );
  }
  return writeTar(entries());
}

/** Layer file name in a streamed archive: its position, since its digest is not known yet. */
export function streamedLayerName(index: number): string {
  return `${String(index).padStart(3, '0')}/layer.tar`;
}

export interface StreamedArchiveInput {
  /** Every layer of the image, base layers first. */
  layers: Layer[];
  mtime: number;
  /** Where the archive's and its layers' tar chunks come from (the reader may hand them back). */
  pool?: ChunkPool;
  /**
   * Called once every layer has been written and measured (in the order
   * written): the config and tags of the image, and `order`, the positions
   * of the written layers in the image's own order when that differs (known
   * only once they are all written, e.g. from what their bytes refer to).
   */
  finish(layers: MeasuredLayer[]): { configJson: Buffer; configDigest: string; repoTags: string[]; order?: number[] };
}

/**
 * One pass over the layers' inputs: each layer is hashed as it is written
 * (its size, needed first in its tar header, comes from its entries or is
 * known), then the config and manifest.json. Layers whose size cannot be
 * known in advance are measured first.
 */
export function streamingDockerArchive(input: StreamedArchiveInput): AsyncIterable<Buffer> {
  const file = (name: string, size: number, extra: Partial<TarEntry>): TarEntry => archiveFile(name, size, input.mtime, extra);
  async function* entries(): AsyncIterable<TarEntry> {
    const measured: MeasuredLayer[] = [];
    for (const [i, layer] of input.layers.entries()) {
      if (layer.diffId !== undefined && layer.size !== undefined) {
        const known = layer as MeasuredLayer;
        measured.push(known);
        yield file(streamedLayerName(i), known.size, { stream: () => verifiedLayer(known) });
        continue;
      }
      const size = layer.size ?? layer.tarSize?.();
      if (size === undefined) {
        const m = await measureLayer(layer);
        measured.push(m);
        yield file(streamedLayerName(i), m.size, { stream: () => verifiedLayer(m) });
        continue;
      }
      const slot: MeasuredLayer = { ...layer, diffId: '', size };
      measured.push(slot);
      yield file(streamedLayerName(i), size, { stream: () => hashedLayer(layer, slot, input.pool) });
      if (slot.diffId === '') throw new Error(`layer "${layer.comment}" was not written to the end`);
    }
    const image = input.finish(measured);
    const order = image.order ?? measured.map((_, i) => i);
    if (order.length !== measured.length || new Set(order).size !== order.length || order.some((i) => !(i >= 0 && i < measured.length)))
      throw new Error(
        `streamingDockerArchive: the layer order ${order.join(',')} is not an order of the ${measured.length} layers written`,
      );
    yield file(`${hexOf(image.configDigest)}.json`, image.configJson.length, { data: image.configJson });
    const manifest = Buffer.from(
      JSON.stringify(
        [{ Config: `${hexOf(image.configDigest)}.json`, RepoTags: image.repoTags, Layers: order.map(streamedLayerName) }],
        null,
        2,
      ) + '\n',
      'utf8',
    );
    yield file('manifest.json', manifest.length, { data: manifest });
  }
  return writeTar(entries(), input.pool ? { pool: input.pool } : {});
}

/** Produce a layer once, recording its digest in `slot` when it has been read to the end. */
function hashedLayer(layer: Layer, slot: MeasuredLayer, pool: ChunkPool | undefined): AsyncIterable<Buffer> {
  return hashing(layer.open(pool ? { pool } : {}), (digest, size) => {
    if (size !== slot.size)
      throw new OpError(
        'inputs_changed',
        `layer "${layer.comment}" has ${size} bytes, ${slot.size} expected: inputs were modified during the build`,
        CHANGED_HINT,
      );
    slot.diffId = digest;
  });
}

// docker-archive writer (the `docker save` / `docker load` format): each
// layer as <diffid>/layer.tar, the config as <digest>.json, then
// manifest.json. Streams; layers are produced a second time while writing
// and checked against the digest measured before.
import { createHash } from "node:crypto";
import { hexOf } from "./digest.js";
import type { MeasuredLayer } from "./layer.js";
import { writeTar, type TarEntry } from "./tar-writer.js";
import { ROOT_OWNER } from "./fs-entries.js";

export interface ImageParts {
  layers: MeasuredLayer[];
  configJson: Buffer;
  configDigest: string;
  repoTags: string[];
  mtime: number;
}

/** Re-produce a layer and fail if it no longer matches its measured digest. */
export async function* verifiedLayer(layer: MeasuredLayer): AsyncIterable<Buffer> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of layer.open()) {
    h.update(chunk);
    size += chunk.length;
    yield chunk;
  }
  const got = `sha256:${h.digest("hex")}`;
  if (got !== layer.diffId || size !== layer.size) {
    throw new Error(`layer "${layer.comment}" changed between passes (${layer.diffId} then ${got}): inputs were modified during the build`);
  }
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
  return Buffer.from(JSON.stringify(manifest, null, 2) + "\n", "utf8");
}

export function dockerManifest(parts: ImageParts): Buffer {
  return dockerManifestOf(parts.configDigest, parts.repoTags, parts.layers.map((l) => l.diffId));
}

/** Where a layer goes in a docker-archive. */
export function layerPath(diffId: string): string {
  return `${hexOf(diffId)}/layer.tar`;
}

/** A file entry of a docker-archive (mode 0644, owned by root). */
export function archiveFile(name: string, size: number, mtime: number, extra: Partial<TarEntry> = {}): TarEntry {
  return { name, type: "file", mode: 0o644, size, mtime, ...ROOT_OWNER, ...extra };
}

/**
 * The entries after the layers: the config, then manifest.json. The layers
 * come first, in the manifest's order, each diff_id once.
 */
export function* dockerArchiveTail(parts: Omit<ImageParts, "layers">, diffIds: string[]): Iterable<TarEntry> {
  yield archiveFile(`${hexOf(parts.configDigest)}.json`, parts.configJson.length, parts.mtime, { data: parts.configJson });
  const manifest = dockerManifestOf(parts.configDigest, parts.repoTags, diffIds);
  yield archiveFile("manifest.json", manifest.length, parts.mtime, { data: manifest });
}

export function dockerArchiveStream(parts: ImageParts): AsyncIterable<Buffer> {
  function* entries(): Iterable<TarEntry> {
    const seen = new Set<string>();
    for (const layer of parts.layers) {
      if (seen.has(layer.diffId)) continue;
      seen.add(layer.diffId);
      yield archiveFile(layerPath(layer.diffId), layer.size, parts.mtime, { stream: () => verifiedLayer(layer) });
    }
    yield* dockerArchiveTail(parts, parts.layers.map((l) => l.diffId));
  }
  return writeTar(entries());
}

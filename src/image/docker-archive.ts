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

export function dockerManifest(parts: ImageParts): Buffer {
  const manifest = [
    {
      Config: `${hexOf(parts.configDigest)}.json`,
      RepoTags: parts.repoTags,
      Layers: parts.layers.map((l) => `${hexOf(l.diffId)}/layer.tar`),
    },
  ];
  return Buffer.from(JSON.stringify(manifest, null, 2) + "\n", "utf8");
}

export function dockerArchiveStream(parts: ImageParts): AsyncIterable<Buffer> {
  const file = (name: string, size: number, extra: Partial<TarEntry>): TarEntry => ({
    name, type: "file", mode: 0o644, size, mtime: parts.mtime, ...ROOT_OWNER, ...extra,
  });
  function* entries(): Iterable<TarEntry> {
    const seen = new Set<string>();
    for (const layer of parts.layers) {
      if (seen.has(layer.diffId)) continue;
      seen.add(layer.diffId);
      yield file(`${hexOf(layer.diffId)}/layer.tar`, layer.size, { stream: () => verifiedLayer(layer) });
    }
    yield file(`${hexOf(parts.configDigest)}.json`, parts.configJson.length, { data: parts.configJson });
    const manifest = dockerManifest(parts);
    yield file("manifest.json", manifest.length, { data: manifest });
  }
  return writeTar(entries());
}

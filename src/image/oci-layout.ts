// OCI image layout writer: oci-layout, index.json and blobs/sha256/, layers
// optionally gzip-compressed. Written into a temporary sibling directory and
// renamed into place, so a failed or aborted build leaves nothing behind. For readers
// (base-image.ts): a digest from a layout or an OCI archive as its blob path,
// checked first, and a blob checked against its digest.
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile, readdir } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { hexOf, sha256 } from './digest.js';
import { gzipStream } from './gzip.js';
import { verifiedLayer, type ImageParts } from './docker-archive.js';
import { OpError } from '../errors.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

async function writeBlob(blobs: string, stream: AsyncIterable<Buffer>, signal?: AbortSignal): Promise<{ digest: string; size: number }> {
  const tmp = join(blobs, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const h = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(Readable.from(stream), tap, createWriteStream(tmp), ...(signal ? [{ signal }] : []));
  const digest = `sha256:${h.digest('hex')}`;
  await rename(tmp, join(blobs, hexOf(digest)));
  return { digest, size };
}

export interface OciResult {
  manifestDigest: string;
  manifest: Descriptor;
}

export async function writeOciLayout(
  outDir: string,
  parts: ImageParts & { architecture: string; os: string; gzip: boolean },
  /** Stops the writing: the temporary directory goes, nothing is put in place. */
  signal?: AbortSignal,
): Promise<OciResult> {
  const existing = await readdir(outDir).catch(() => null);
  if (existing && existing.length > 0)
    throw new OpError(
      'output_exists',
      `OCI layout output ${outDir} exists and is not empty`,
      'Choose a new --out directory, or remove this one first.',
    );
  await mkdir(dirname(outDir), { recursive: true });
  const tmpDir = join(dirname(outDir), `.${basename(outDir)}.tmp-${process.pid}`);
  await rm(tmpDir, { recursive: true, force: true });
  const blobs = join(tmpDir, 'blobs', 'sha256');
  try {
    await mkdir(blobs, { recursive: true });
    const layers: Descriptor[] = [];
    for (const layer of parts.layers) {
      const src = verifiedLayer(layer);
      const blob = await writeBlob(blobs, parts.gzip ? gzipStream(src) : src, signal);
      layers.push({ mediaType: parts.gzip ? OCI_LAYER_GZIP : OCI_LAYER, ...blob });
    }
    await writeFile(join(blobs, hexOf(parts.configDigest)), parts.configJson);
    const manifestObj = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: parts.configDigest, size: parts.configJson.length },
      layers,
    };
    const manifestJson = Buffer.from(JSON.stringify(manifestObj, null, 2) + '\n');
    const manifestDigest = sha256(manifestJson);
    await writeFile(join(blobs, hexOf(manifestDigest)), manifestJson);
    const ref = parts.repoTags[0]?.split(':').pop();
    const manifest: Descriptor = {
      mediaType: OCI_MANIFEST,
      digest: manifestDigest,
      size: manifestJson.length,
      ...(ref ? { annotations: { 'org.opencontainers.image.ref.name': ref, 'io.containerd.image.name': parts.repoTags[0]! } } : {}),
      platform: { architecture: parts.architecture, os: parts.os },
    };
    await writeFile(
      join(tmpDir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [manifest] }, null, 2) + '\n',
    );
    await writeFile(join(tmpDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }) + '\n');
    signal?.throwIfAborted();
    if (existing) await rm(outDir, { recursive: true, force: true });
    await rename(tmpDir, outDir);
    return { manifestDigest, manifest };
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
}

/** Hex digits of each digest algorithm an OCI layout may use. */
const DIGEST_HEX: Record<string, number> = { sha256: 64, sha512: 128 };

/**
 * A digest read from an OCI layout or archive (index.json, a manifest), as
 * the path of its blob: `blobs/<algorithm>/<hex>`. Anything but a known
 * algorithm and lowercase hex of its length is refused before it touches the
 * filesystem (`sha256:../../etc/passwd` would otherwise be read).
 */
export function ociBlobPath(digest: unknown, where: string): string {
  const m = typeof digest === 'string' ? /^([a-z0-9]+):([0-9a-f]+)$/.exec(digest) : null;
  if (!m || DIGEST_HEX[m[1]!] !== m[2]!.length) {
    const shown = typeof digest === 'string' ? JSON.stringify(digest.slice(0, 80)) : typeof digest;
    throw new OpError(
      'base_image',
      `${where}: digest ${shown} is not sha256:<64 hex digits> or sha512:<128 hex digits>`,
      'The OCI layout is damaged or was made to attack: make it again with a trusted tool (skopeo, buildah, nerves-docker).',
    );
  }
  return `blobs/${m[1]}/${m[2]}`;
}

/** The blob's bytes must hash to its digest (a checked one, from ociBlobPath). */
export function checkOciBlob(digest: string, data: Buffer, where: string): void {
  const [alg, hex] = digest.split(':') as [string, string];
  if (createHash(alg).update(data).digest('hex') !== hex) {
    throw new OpError(
      'base_image',
      `${where}: blob ${digest} does not have that digest`,
      'The OCI layout is damaged or was modified after it was written: make it again.',
    );
  }
}

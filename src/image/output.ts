// Where and how a built image is written: a docker-archive file (optionally
// gzipped as a whole, like nixpkgs' image.tar.gz) or an OCI image layout
// directory (optionally with gzip layers). Files appear atomically, and an
// aborted write (the build's signal) removes its partial file. An
// oci-archive holds its layout with fixed modes (0644 files, 0755
// directories), not the ones the umask gave the scratch copy.
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { dockerArchiveStream, type ImageParts } from './docker-archive.js';
import { writeOciLayout } from './oci-layout.js';
import { gzipStream } from './gzip.js';
import { ROOT_OWNER, treeEntries } from './fs-entries.js';
import { writeTar } from './tar-writer.js';
import { OpError } from '../errors.js';

export type ImageFormat = 'docker-archive' | 'oci' | 'oci-archive';

export interface OutputOptions {
  /** File (docker-archive, oci-archive) or directory (oci) to create. */
  out: string;
  /** Default "docker-archive". */
  format?: ImageFormat;
  /** gzip: the whole archive for docker-archive, each layer for oci. */
  compress?: 'none' | 'gzip';
  /** nixpkgs' name for the same choice: "gz" or "none". */
  compressor?: 'none' | 'gz';
}

export function compressionOf(o: Pick<OutputOptions, 'compress' | 'compressor'>): 'none' | 'gzip' {
  if (o.compressor !== undefined && !['none', 'gz'].includes(o.compressor))
    throw new OpError(
      'image_options',
      `compressor must be "gz" or "none" (got ${String(o.compressor)})`,
      'Set compressor to "gz" or "none" (or compress to "gzip" or "none").',
    );
  if (o.compress !== undefined && !['none', 'gzip'].includes(o.compress))
    throw new OpError(
      'image_options',
      `compress must be "gzip" or "none" (got ${String(o.compress)})`,
      'Set compress (--compress) to "gzip" or "none".',
    );
  const fromCompressor = o.compressor === undefined ? undefined : o.compressor === 'gz' ? 'gzip' : 'none';
  // Both given (nixpkgs' name and ours): they must agree, or one would be ignored without a word.
  if (o.compress !== undefined && fromCompressor !== undefined && o.compress !== fromCompressor)
    throw new OpError(
      'image_options',
      `compress "${o.compress}" and compressor "${o.compressor}" ask for different things`,
      'Give one of them: compress (--compress gzip|none) or compressor (nixpkgs\' "gz"|"none").',
    );
  return o.compress ?? fromCompressor ?? 'none';
}

export interface ImageResult {
  path: string;
  format: ImageFormat;
  imageName: string;
  imageTag: string;
  /** Digest of the config JSON: the image ID `docker load` reports. */
  imageId: string;
  /** sha256 of the archive file (docker-archive) or of the manifest (oci). */
  sha256: string;
  diffIds: string[];
}

/**
 * Write a stream to a file through a temporary sibling, returning its sha256.
 * Aborted by `signal` (or failing), it removes the sibling and puts nothing in place.
 */
export async function writeFileAtomic(path: string, stream: AsyncIterable<Buffer>, signal?: AbortSignal): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const h = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      h.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(Readable.from(stream), tap, createWriteStream(tmp), ...(signal ? [{ signal }] : []));
    signal?.throwIfAborted(); // an abort seen as the last byte was written: still nothing in place
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return `sha256:${h.digest('hex')}`;
}

export function archiveStream(parts: ImageParts, compress: OutputOptions['compress']): AsyncIterable<Buffer> {
  const s = dockerArchiveStream(parts);
  return compress === 'gzip' ? gzipStream(s) : s;
}

export async function writeImage(
  parts: ImageParts & { architecture: string; os: string },
  name: string,
  tag: string,
  opts: OutputOptions & { signal?: AbortSignal },
): Promise<ImageResult> {
  const { signal } = opts;
  const format = opts.format ?? 'docker-archive';
  const common = {
    path: opts.out,
    format,
    imageName: name,
    imageTag: tag,
    imageId: parts.configDigest,
    diffIds: parts.layers.map((l) => l.diffId),
  };
  if (format === 'oci') {
    const r = await writeOciLayout(opts.out, { ...parts, gzip: compressionOf(opts) === 'gzip' }, signal);
    return { ...common, sha256: r.manifestDigest };
  }
  if (format === 'oci-archive') {
    // The OCI layout, written to a scratch directory, then archived reproducibly.
    const scratch = await mkdtemp(join(tmpdir(), 'ndt-oci-archive-'));
    try {
      const layout = join(scratch, 'layout');
      await writeOciLayout(layout, { ...parts, gzip: compressionOf(opts) === 'gzip' }, signal);
      const entries = await treeEntries(layout, '', { ...ROOT_OWNER, mtime: parts.mtime });
      for (const e of entries) e.mode = e.type === 'dir' ? 0o755 : 0o644;
      const digest = await writeFileAtomic(opts.out, writeTar(entries), signal);
      return { ...common, sha256: digest };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  if (format !== 'docker-archive')
    throw new OpError(
      'image_options',
      `unknown image format ${String(format)} (docker-archive, oci or oci-archive)`,
      'Set format (--format) to docker-archive, oci or oci-archive.',
    );
  const digest = await writeFileAtomic(opts.out, archiveStream(parts, compressionOf(opts)), signal);
  return { ...common, sha256: digest };
}

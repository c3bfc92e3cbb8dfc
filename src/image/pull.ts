// pullImage: fetch an image by digest over the registry API v2 and write it
// as a docker-archive. The manifest, config and every blob are checked
// against their digests, layers also against the config's diff_ids, and the
// archive against `sha256` when given (printed nix-prefetch-docker style when
// not). Any failure leaves nothing behind.
//
// One pass: each layer is fetched, hashed, gunzipped and hashed again into a
// temporary file, four at a time; the archive is written meanwhile, each
// layer appended (and its file removed) once it and those before it are done.
import { mkdtemp, open, rename, rm, rmdir, stat, mkdir, type FileHandle } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { goArch, type ImageConfigJson } from './config.js';
import { parseSha256, sriOf } from './digest.js';
import { archiveFile, dockerArchiveTail, layerPath } from './docker-archive.js';
import { parseJson, RegistryClient, type Credentials } from './registry.js';
import { checkDigest, fetchConfig, fetchLayer, fetchManifest, type Descriptor } from './registry-blobs.js';
import { limitsFromOptions, resolveLimits } from './transfer-limits.js';
import { locateRepository, referenceName } from './reference.js';
import { checkName, checkTag } from './assemble.js';
import { END_OF_ARCHIVE, entryHeader, padding } from './tar-writer.js';
import { writevAll } from '../write-all.js';
import { OpError } from '../errors.js';
import { checkOutputPath } from './check-paths.js';

export interface PullImageOptions {
  imageName: string;
  /** Required: the manifest (or manifest list) digest, sha256:<hex>. */
  imageDigest: string;
  /** Expected sha256 of the resulting archive (hex, sha256:hex, SRI or Nix base32). */
  sha256?: string;
  /** Default: imageName without registry-specific tag/digest. */
  finalImageName?: string;
  /** Default "latest". */
  finalImageTag?: string;
  os?: string;
  arch?: string;
  variant?: string;
  /** Default true; false also allows plain HTTP. */
  tlsVerify?: boolean;
  credentials?: Credentials;
  /** docker-archive file to write. */
  out: string;
  /** Where the prefetch summary goes when sha256 is not given (default: stderr). */
  log?: (text: string) => void;
  /** Seconds one registry request may take, its body included (default 1800). */
  requestTimeout?: number;
  /** Bytes per second every request must average over rateWindow (default 1024; 0: no minimum). */
  minRate?: number;
  /** Seconds over which minRate is measured (default 30). */
  rateWindow?: number;
  /** Aborts the pull; everything written so far is removed. */
  signal?: AbortSignal;
}

export interface PullResult {
  path: string;
  sha256: string;
  imageId: string;
  manifestDigest: string;
  imageName: string;
  imageTag: string;
}

export function selectPlatform(list: Descriptor[], os: string, arch: string, variant?: string): Descriptor {
  const match = list.filter(
    (d) => d.platform?.os === os && d.platform?.architecture === arch && (variant === undefined || d.platform?.variant === variant),
  );
  const found = match[0];
  if (!found) {
    const have = list
      .map((d) => `${d.platform?.os}/${d.platform?.architecture}${d.platform?.variant ? `/${d.platform.variant}` : ''}`)
      .join(', ');
    throw new OpError(
      'image_platform',
      `no manifest for ${os}/${arch}${variant ? `/${variant}` : ''} in the manifest list (has ${have})`,
      'Choose one of the listed platforms with os and arch (--os, --arch).',
    );
  }
  return found;
}

/** The docker-archive being written: bytes go to the end of the file and into its sha256, in order. */
class ArchiveFile {
  readonly hash: Hash = createHash('sha256');
  private pos = 0;
  private blocks: Buffer[] | undefined;
  constructor(private readonly fh: FileHandle) {}

  async write(bufs: Buffer[]): Promise<void> {
    for (const b of bufs) this.hash.update(b);
    this.pos += await writevAll(this.fh, bufs, this.pos);
  }

  /** Appends `size` bytes of a file, read in large blocks, the next read overlapping the current write. */
  async append(path: string, size: number): Promise<void> {
    const src = await open(path, 'r');
    const blocks = (this.blocks ??= [Buffer.allocUnsafe(COPY_BLOCK), Buffer.allocUnsafe(COPY_BLOCK)]);
    const readAt = (k: number, off: number) => {
      const p = src.read(blocks[k]!, 0, Math.min(COPY_BLOCK, size - off), off);
      p.catch(() => undefined); // awaited below; not unhandled while a write is under way
      return p;
    };
    let reading = size > 0 ? readAt(0, 0) : undefined;
    try {
      let off = 0;
      let k = 0;
      while (reading) {
        const { bytesRead } = await reading;
        if (bytesRead === 0) throw new Error(`${path}: expected ${size} bytes, found ${off}`);
        const block = blocks[k]!.subarray(0, bytesRead);
        off += bytesRead;
        k ^= 1;
        reading = off < size ? readAt(k, off) : undefined;
        await this.write([block]);
      }
    } finally {
      await reading?.catch(() => undefined);
      await src.close();
    }
  }
}

/** Read and write size when copying a layer file into the archive (4 MiB was no faster, and 6 MB bigger). */
const COPY_BLOCK = 1 << 20;

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // a layer nobody waits for after a failure
  return { promise, resolve, reject };
}

/**
 * Fetches the layers, `limit` at a time and the biggest first, each into its
 * own file, while the archive is written: every layer is appended as soon as
 * it and the layers before it are done, then its file is removed. The first
 * failure aborts the transfers under way and is thrown once they have
 * stopped.
 */
async function fetchLayersIntoArchive(
  client: RegistryClient,
  layers: Descriptor[],
  diffIds: string[],
  tmp: string,
  archive: ArchiveFile,
  mtime: number,
  limit: number,
  signal?: AbortSignal,
): Promise<void> {
  const ready = layers.map(() => deferred<{ file: string; size: number }>());
  const abort = new AbortController();
  let failure: { err: unknown } | undefined;
  const fail = (err: unknown) => {
    if (failure) return;
    failure = { err };
    abort.abort(err);
    for (const r of ready) r.reject(err);
  };
  const onAbort = () => fail(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  // Biggest first (by compressed size), so that no big layer starts last and runs alone at the
  // end; the archive still takes them in the manifest's order.
  const order = layers.map((_d, i) => i).sort((a, b) => (layers[b]!.size ?? 0) - (layers[a]!.size ?? 0) || a - b);
  let next = 0;
  const worker = async () => {
    while (next < layers.length && !failure) {
      const i = order[next++]!;
      const file = join(tmp, `layer-${i}.tar`);
      try {
        ready[i]!.resolve({ file, size: await fetchLayer(client, layers[i]!, diffIds[i]!, file, abort.signal) });
      } catch (err) {
        fail(err);
      }
    }
  };
  const writer = async () => {
    const seen = new Set<string>();
    for (let i = 0; i < layers.length; i++) {
      const { file, size } = await ready[i]!.promise;
      if (!seen.has(diffIds[i]!)) {
        seen.add(diffIds[i]!);
        await archive.write([entryHeader(archiveFile(layerPath(diffIds[i]!), size, mtime))]);
        await archive.append(file, size);
        await archive.write([padding(size)]);
      }
      await rm(file, { force: true });
    }
  };
  await Promise.all([...Array.from({ length: Math.min(limit, layers.length) }, worker), writer().catch(fail)]);
  signal?.removeEventListener('abort', onAbort);
  if (failure) throw failure.err;
}

/** Layers fetched at once (skopeo fetches several too). */
const PARALLEL_LAYERS = 4;

export function prefetchSummary(o: {
  imageName: string;
  imageDigest: string;
  sha256: string;
  finalImageName: string;
  finalImageTag: string;
}): string {
  return [
    '{',
    `  imageName = "${o.imageName}";`,
    `  imageDigest = "${o.imageDigest}";`,
    `  hash = "${sriOf(o.sha256)}";`,
    `  finalImageName = "${o.finalImageName}";`,
    `  finalImageTag = "${o.finalImageTag}";`,
    '}',
    '',
  ].join('\n');
}

export async function pullImage(opts: PullImageOptions): Promise<PullResult> {
  const { expected, finalImageName, finalImageTag, out } = await checkPullOptions(opts);
  const client = new RegistryClient(locateRepository(opts.imageName), {
    ...(opts.tlsVerify !== undefined ? { tlsVerify: opts.tlsVerify } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    limits: resolveLimits(limitsFromOptions(opts)),
  });
  opts.signal?.throwIfAborted();
  const tmp = await mkdtemp(join(tmpdir(), 'ndt-pull-'));
  const partial = join(dirname(out), `.${basename(out)}.partial-${process.pid}`);
  let createdDir: string | undefined;
  let output: FileHandle | undefined;
  let done = false;
  try {
    const { manifest, manifestDigest, configJson, diffIds } = await resolveImage(client, opts);
    createdDir = await mkdir(dirname(out), { recursive: true });
    output = await open(partial, 'w');
    const archive = new ArchiveFile(output);
    const mtime = 1;
    await fetchLayersIntoArchive(client, manifest.layers, diffIds, tmp, archive, mtime, PARALLEL_LAYERS, opts.signal);
    opts.signal?.throwIfAborted();
    const repoTags = [`${finalImageName}:${finalImageTag}`];
    const tail = [...dockerArchiveTail({ configJson, configDigest: manifest.config.digest, repoTags, mtime }, diffIds)];
    await archive.write([...tail.flatMap((e) => [entryHeader(e), e.data!, padding(e.size)]), END_OF_ARCHIVE]);
    const written = output;
    output = undefined;
    await written.close();
    const got = `sha256:${archive.hash.digest('hex')}`;
    if (expected && got !== expected)
      throw new OpError(
        'image_digest',
        `sha256 mismatch for ${opts.imageName}@${opts.imageDigest}: expected ${expected}, got ${got} (${sriOf(got)})`,
        'If the digest is the one you meant, put the sha256 it got into your options (sha256 / hash); otherwise correct imageDigest.',
      );
    await rename(partial, out);
    done = true;
    if (!expected)
      (opts.log ?? ((t) => process.stderr.write(t)))(
        prefetchSummary({ imageName: opts.imageName, imageDigest: opts.imageDigest, sha256: got, finalImageName, finalImageTag }),
      );
    return { path: out, sha256: got, imageId: manifest.config.digest, manifestDigest, imageName: finalImageName, imageTag: finalImageTag };
  } finally {
    await output?.close();
    await rm(partial, { force: true });
    await rm(tmp, { recursive: true, force: true });
    if (!done && createdDir !== undefined) await removeEmptyDirs(dirname(out), createdDir);
  }
}

/** The options checked before any request: the digest, the expected sha256, the final name and tag, a new output file. */
async function checkPullOptions(opts: PullImageOptions) {
  if (!/^sha256:[0-9a-f]{64}$/.test(opts.imageDigest)) {
    throw new OpError(
      'image_reference',
      `imageDigest must be sha256:<64 hex digits> (got ${opts.imageDigest})`,
      'Give the manifest digest, e.g. from `docker buildx imagetools inspect NAME:TAG` or `skopeo inspect`.',
    );
  }
  const expected = opts.sha256 !== undefined ? parseSha256(opts.sha256) : undefined;
  const finalImageName = opts.finalImageName ?? referenceName(opts.imageName);
  const finalImageTag = opts.finalImageTag ?? 'latest';
  checkName(finalImageName);
  checkTag(finalImageTag);
  const out = resolve(opts.out);
  await checkOutputPath(out, 'file');
  const exists = await stat(out).then(
    () => true,
    () => false,
  );
  if (exists) throw new OpError('output_exists', `${out} already exists`, 'Choose a new --out file, or remove this one first.');
  return { expected, finalImageName, finalImageTag, out };
}

/** The image manifest (through a manifest list, the platform's), its config and diff_ids, each checked. */
async function resolveImage(client: RegistryClient, opts: PullImageOptions) {
  let { manifest } = await fetchManifest(client, opts.imageDigest);
  let manifestDigest = opts.imageDigest;
  if (manifest.manifests) {
    const chosen = selectPlatform(manifest.manifests, opts.os ?? 'linux', opts.arch ?? goArch(), opts.variant);
    manifestDigest = checkDigest(chosen.digest, 'manifest list entry');
    manifest = (await fetchManifest(client, chosen.digest)).manifest;
  }
  const malformed = 'The image is malformed: ask its publisher, or use another digest.';
  if (manifest.schemaVersion !== 2 || !manifest.config || !manifest.layers)
    throw new OpError(
      'registry_image',
      `unsupported manifest (schemaVersion ${manifest.schemaVersion}); only v2 / OCI manifests are handled`,
      'Pull it with `docker pull` and use the archive, or push it again with a current tool.',
    );
  const configJson = await fetchConfig(client, manifest.config);
  const config = parseJson(configJson, `the image config ${manifest.config.digest}`) as ImageConfigJson;
  const diffIds = config?.rootfs?.diff_ids ?? [];
  if (!Array.isArray(diffIds) || !Array.isArray(manifest.layers))
    throw new OpError('registry_image', "the manifest's layers or the config's diff_ids are not lists", malformed);
  diffIds.forEach((d, i) => checkDigest(d, `diff_id ${i + 1}`));
  if (diffIds.length !== manifest.layers.length)
    throw new OpError('registry_image', `config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`, malformed);
  return {
    manifest: manifest as typeof manifest & { config: NonNullable<typeof manifest.config>; layers: NonNullable<typeof manifest.layers> },
    manifestDigest,
    configJson,
    diffIds,
  };
}

/** Removes dir and its parents up to and including top, as long as they are empty (what a failed pull created). */
async function removeEmptyDirs(dir: string, top: string): Promise<void> {
  for (let d = dir; !relative(top, d).startsWith('..'); d = dirname(d)) {
    if (
      !(await rmdir(d).then(
        () => true,
        () => false,
      )) ||
      d === top
    )
      return;
  }
}

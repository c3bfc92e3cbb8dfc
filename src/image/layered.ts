// buildLayeredImage / streamLayeredImage: one layer per popular closure
// path, the rest shared, then the customisation layer (contents linked into
// the root, extraCommands' files). Store paths keep their absolute location;
// plain host directories are copied into the image root.
import { mkdtemp, rm, symlink, mkdir, readdir, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { assemble, checkInput, finishImage, type AssembleInput } from './assemble.js';
import { openBaseImage, type BaseImage } from './base-image.js';
import { parseReferencesGraph, readReferencesGraph, scanClosure, storePathsIn } from './closure.js';
import type { ImageRuntimeConfig } from './config.js';
import { mergeEntries, ROOT_OWNER, treeEntries, type EntryDefaults, type Ownership } from './fs-entries.js';
import { entriesLayer, type Layer } from './layer.js';
import { planInScanOrder } from './scan-ordered.js';
import { autoLayers } from './auto-layering.js';
import { checkMaxLayers, DEFAULT_MAX_LAYERS, groupLayers, type LayeringStrategy } from './layering.js';
import { packageName, referencesByPopularity, type ClosureNode } from './popularity.js';
import { compressionOf, writeImage, type ImageResult, type OutputOptions } from './output.js';
import { streamingDockerArchive } from './docker-archive.js';
import { ChunkPool } from './chunk-pool.js';
import type { TarEntry } from './tar-writer.js';
import { UploadBody } from '../engine/upload-body.js';
import { gzipStream } from './gzip.js';
import { parseCreated } from './time.js';
import { runHostScript } from './host-script.js';
import { missingStorePaths, presentStoreRefs } from './command-refs.js';
// The engine (dockerode) is imported only by the path that uses it
// (fakeRootCommands): it costs more at start-up than the rest of the toolkit.
import type { DockerClient } from '../engine/images.js';
import { OpError } from '../errors.js';

/**
 * The stream's chunks: small enough that the engine reads one while the next
 * is made (UploadBody turns the event loop between chunks), big enough that
 * a chunk's own costs (a write, an HTTP chunk, a hash update) stay small.
 * 256 KiB against 1 MiB: upload of the bench's image 0.84 -> 0.80 s (medians of 8 alternated rounds).
 */
const STREAM_CHUNK = 256 * 1024;

export interface LayeredImageOptions extends Partial<Ownership> {
  name: string;
  /** Default: derived from the image content. */
  tag?: string;
  /** Store paths (linked into the root) or plain directories (copied into the root). */
  contents?: string | string[];
  /** Image config (Cmd, Entrypoint, Env, ...); store paths mentioned in it are included. */
  config?: ImageRuntimeConfig;
  /** ISO time or "now" (not reproducible). Default 1970-01-01T00:00:01Z. */
  created?: string;
  /** Default 100, at most 125. */
  maxLayers?: number;
  /** Shell commands run with /bin/sh on the host in the customisation layer's scratch directory. */
  extraCommands?: string;
  /**
   * Commands run as root in the image (cwd /) on the engine, kept as one more
   * layer with their ownership changes (nixpkgs runs them under fakeroot,
   * with enableFakechroot in the image root). Needs /bin/sh in the image.
   */
  fakeRootCommands?: string;
  /**
   * nixpkgs' switch to run fakeRootCommands chrooted in the image root: here
   * they always do (in a container), so true changes nothing and false,
   * commands on the host's own paths, is refused.
   */
  enableFakechroot?: boolean;
  /** The engine for fakeRootCommands; default from DOCKER_HOST or the local socket. */
  docker?: DockerClient;
  /** Base image: docker-archive file or OCI layout directory. */
  fromImage?: string;
  fromImageName?: string;
  fromImageTag?: string;
  /** Nix exportReferencesGraph JSON (file path or parsed value); otherwise the contents are scanned. */
  closureGraph?: string | ClosureNode[] | Record<string, unknown>;
  closureGraphKey?: string;
  /** "popularity" (default), "auto" (nixpkgs' size-based auto layering) or "size" (biggest paths alone). */
  layering?: LayeringStrategy;
  /** Default /nix/store. */
  storeDir?: string;
  /** Default true; false leaves store paths out (only links and plain contents go in). */
  includeStorePaths?: boolean;
  architecture?: string;
  os?: string;
}

export type BuildLayeredImageOptions = LayeredImageOptions & OutputOptions;

function toList(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function isStorePath(p: string, storeDir: string): boolean {
  return p.startsWith(`${storeDir}/`);
}

async function loadGraph(opts: LayeredImageOptions, roots: string[], storeDir: string): Promise<ClosureNode[]> {
  let graph: ClosureNode[];
  if (typeof opts.closureGraph === 'string') graph = await readReferencesGraph(opts.closureGraph, opts.closureGraphKey);
  else if (opts.closureGraph !== undefined) graph = parseReferencesGraph(opts.closureGraph, opts.closureGraphKey);
  else graph = await scanClosure(roots, storeDir);
  const present = new Set(graph.map((n) => n.path));
  for (const r of roots) if (!present.has(r)) graph.push({ path: r, references: [] });
  return graph;
}

/** Entries of one closure path: store paths at their own location, plain directories at the root. */
async function pathEntries(p: string, storeDir: string, d: EntryDefaults) {
  return isStorePath(p, storeDir) ? treeEntries(p, p.replace(/^\/+/, ''), d) : treeEntries(p, '', d);
}

/** Link each top-level entry of the store-path contents into `dir`, merging directories that clash. */
async function linkContents(dir: string, sources: string[]): Promise<void> {
  const owners = new Map<string, string[]>();
  for (const src of sources) {
    const st = await lstat(src);
    if (!st.isDirectory()) continue;
    for (const name of (await readdir(src)).sort()) owners.set(name, [...(owners.get(name) ?? []), join(src, name)]);
  }
  for (const [name, targets] of owners) {
    const dest = join(dir, name);
    const dirs = [];
    for (const t of targets) if ((await lstat(t)).isDirectory()) dirs.push(t);
    if (targets.length === 1 || dirs.length < 2) {
      await symlink(targets[targets.length - 1]!, dest);
    } else {
      await mkdir(dest, { mode: 0o755 });
      await linkContents(dest, dirs);
    }
  }
}

/**
 * Plain directories go through the closure, the layering and the history
 * under their place among the plain `contents` ("contents #1", ...), never
 * under their path: the same contents must give the same image wherever they
 * sit (store paths are content-addressed names already).
 */
function plainNames(dirs: string[]) {
  const name = new Map(dirs.map((dir, i) => [dir, `contents #${i + 1}`]));
  const hostPath = new Map([...name].map(([dir, n]) => [n, dir]));
  const sortKey = new Map([...name.values()].map((n, i) => [n, `contents-${String(i).padStart(6, '0')}`]));
  const nameOf = (path: string) => name.get(path) ?? path;
  const rename = (graph: ClosureNode[]): ClosureNode[] =>
    graph.map((node) => ({ ...node, path: nameOf(node.path), references: node.references.map(nameOf) }));
  return { hostPath, sortKey, nameOf, rename };
}

interface Prepared {
  /** The image's layers and config, not measured yet. */
  input: AssembleInput;
  /** Set when the layers are written in another order than the image's (planInScanOrder): that order, once all are written. */
  order?: () => number[];
  close(): Promise<void>;
}

/** What every plan starts from: the options checked, the customisation layer made, the closure's roots named. */
export interface Gathered {
  opts: LayeredImageOptions;
  d: EntryDefaults;
  storeDir: string;
  /** Layers left for the closure (maxLayers less the base's, the extra ones and the customisation layer). */
  available: number;
  roots: string[];
  plain: ReturnType<typeof plainNames>;
  customisation: TarEntry[];
  /** The image's name, base, config, time, platform: AssembleInput without the layers and the tag. */
  common: Omit<AssembleInput, 'layers' | 'tag'>;
  /** Run once the image is written or has failed (what close() undoes is added to as the plan goes). */
  closers: (() => Promise<void>)[];
  close(): Promise<void>;
}

async function gather(opts: LayeredImageOptions): Promise<Gathered> {
  if (opts.enableFakechroot === false) {
    throw new OpError(
      'image_options',
      'enableFakechroot = false is not supported: fakeRootCommands always run inside the image root (in a container on the engine), as with enableFakechroot = true',
      "Leave enableFakechroot out (or set it to true) and write fakeRootCommands for the image's root (cwd /), not for a build directory on the host.",
    );
  }
  const created = parseCreated(opts.created);
  const d: EntryDefaults = { ...ROOT_OWNER, ...pickOwner(opts), mtime: created.epoch };
  const storeDir = (opts.storeDir ?? '/nix/store').replace(/\/+$/, '');
  let base: BaseImage | undefined;
  const scratch = await mkdtemp(join(tmpdir(), 'ndt-custom-'));
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    await rm(scratch, { recursive: true, force: true });
    await base?.close();
    for (const c of closers) await c();
  };
  try {
    if (opts.fromImage) base = await openBaseImage(opts.fromImage, opts);
    const extra = { count: opts.fakeRootCommands ? 1 : 0, what: 'fakeRootCommands' };
    const available = checkMaxLayers(opts.maxLayers ?? DEFAULT_MAX_LAYERS, base?.layers.length ?? 0, extra);
    const contents = toList(opts.contents).map((c) => resolve(c));
    const configPaths = storePathsIn(JSON.stringify(opts.config ?? {}), storeDir);
    // extraCommands run first: the store paths their output refers to join the closure.
    await linkContents(
      scratch,
      contents.filter((c) => isStorePath(c, storeDir)),
    );
    // Output is captured, never printed: stdout may be carrying the image stream.
    if (opts.extraCommands) await runHostScript(opts.extraCommands, scratch).catch(failExtra);
    const customisation = await treeEntries(scratch, '', d);
    const extraRefs = opts.extraCommands ? await presentStoreRefs(customisation, storeDir) : [];
    const common = {
      name: opts.name,
      ...(base ? { base } : {}),
      ...(opts.config ? { config: opts.config } : {}),
      created,
      ...(opts.architecture ? { architecture: opts.architecture } : {}),
      ...(opts.os ? { os: opts.os } : {}),
    };
    return {
      opts,
      d,
      storeDir,
      available,
      roots: [...new Set([...contents, ...configPaths, ...extraRefs])],
      plain: plainNames(contents.filter((c) => !isStorePath(c, storeDir))),
      customisation,
      common,
      closers,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The layers from the whole closure graph (read, given or scanned first), and fakeRootCommands' layer. */
async function plan(g: Gathered): Promise<AssembleInput> {
  const { opts, storeDir, plain, d } = g;
  const graph = plain.rename(await loadGraph(opts, g.roots, storeDir));
  const ordered = referencesByPopularity(graph, (p) => plain.sortKey.get(p) ?? packageName(p));
  const sizes = new Map(graph.map((n) => [n.path, n.narSize ?? 0]));
  const kept = opts.includeStorePaths === false ? ordered.filter((p) => !isStorePath(p, storeDir)) : ordered;
  const keep = new Set(kept);
  const groups =
    opts.layering === 'auto'
      ? autoLayers(graph, g.available)
          .map((grp) => grp.filter((p) => keep.has(p)))
          .filter((grp) => grp.length > 0)
      : groupLayers(kept, g.available, opts.layering, sizes);
  const layers: Layer[] = [];
  for (const group of groups) {
    const lists = [];
    for (const p of group) lists.push(await pathEntries(plain.hostPath.get(p) ?? p, storeDir, d));
    layers.push(entriesLayer(mergeEntries(lists, d), `store paths: ${group.join(' ')}`));
  }
  layers.push(entriesLayer(g.customisation, 'customisation layer'));
  if (opts.fakeRootCommands) {
    const before = await assemble({ ...g.common, tag: 'fake-root', layers });
    const known = new Set(graph.map((n) => n.path));
    const r = await fakeRootLayer(opts, opts.fakeRootCommands, before, { storeDir, d, known });
    g.closers.push(r.close);
    layers.push(r.layer);
  }
  return { ...g.common, ...(opts.tag !== undefined ? { tag: opts.tag } : {}), layers };
}

/** `streaming`: the one-pass plan when it applies (planInScanOrder), else plan(). */
async function prepare(opts: LayeredImageOptions, streaming = false): Promise<Prepared> {
  const g = await gather(opts);
  try {
    const scanOrdered = streaming ? await planInScanOrder(g) : null;
    return scanOrdered ? { ...scanOrdered, close: g.close } : { input: await plan(g), close: g.close };
  } catch (err) {
    await g.close();
    throw err;
  }
}

/**
 * fakeRootCommands' changes as a layer, with the store paths they refer to
 * that the image lacks (and their closure): nixpkgs adds the customisation
 * layer's references to the closure.
 */
async function fakeRootLayer(
  opts: LayeredImageOptions,
  script: string,
  before: Awaited<ReturnType<typeof assemble>>,
  ctx: { storeDir: string; d: EntryDefaults; known: Set<string> },
): Promise<{ layer: Layer; close(): Promise<void> }> {
  const [{ runAsRoot }, { defaultDockerClient }] = await Promise.all([import('./run-as-root.js'), import('../engine/images.js')]);
  const r = await runAsRoot(opts.docker ?? defaultDockerClient(), before, { script, mtime: before.mtime, what: 'fakeRootCommands' });
  try {
    const added = opts.includeStorePaths === false ? [] : await missingStorePaths(r.entries, ctx.storeDir, ctx.known);
    if (added.length === 0) return { layer: { ...r.layer, comment: 'fakeRootCommands changes' }, close: r.close };
    const lists = [];
    for (const p of added) lists.push(await pathEntries(p, ctx.storeDir, ctx.d));
    return {
      layer: entriesLayer(mergeEntries([...lists, r.entries], ctx.d), `fakeRootCommands changes and store paths: ${added.join(' ')}`),
      close: r.close,
    };
  } catch (err) {
    await r.close();
    throw err;
  }
}

export function failExtra(err: unknown): never {
  const all = (err as { all?: string }).all;
  throw new OpError(
    'extra_commands',
    `extraCommands failed: ${(err as { shortMessage?: string }).shortMessage ?? (err as Error).message}${all ? `\n${all}` : ''}`,
    "Fix extraCommands: it runs with sh -e in the image's root directory (its output is above).",
  );
}

export function pickOwner(o: Partial<Ownership>): Partial<Ownership> {
  const out: Partial<Ownership> = {};
  if (o.uid !== undefined) out.uid = o.uid;
  if (o.gid !== undefined) out.gid = o.gid;
  if (o.uname !== undefined) out.uname = o.uname;
  if (o.gname !== undefined) out.gname = o.gname;
  return out;
}

export async function buildLayeredImage(opts: BuildLayeredImageOptions): Promise<ImageResult> {
  const { input, close } = await prepare(opts);
  try {
    const image = await assemble(input);
    return await writeImage(image, image.name, image.tag, opts);
  } finally {
    await close();
  }
}

export interface StreamedImage {
  imageName: string;
  /** Known at once when `tag` is given; a tag derived from the content, once the stream has ended. */
  imageTag: string;
  /** Known once the stream has been read to the end (reading it earlier throws). */
  imageId: string;
  /** Known once the stream has been read to the end (reading it earlier throws). */
  diffIds: string[];
  /** The docker-archive, produced while read; layers are never staged on disk. */
  stream: Readable;
  /** Resolves with the image ID, tag and diff IDs when the stream has ended; rejects if it fails. */
  done: Promise<{ imageId: string; imageTag: string; diffIds: string[] }>;
}

/**
 * Like buildLayeredImage, but returns the docker-archive as a stream (for
 * example into the engine's image load). One pass: each layer is hashed
 * while it is written, and the config and manifest.json, which need the
 * digests, come last; the image ID is known when the stream has ended.
 */
export async function streamLayeredImage(
  opts: LayeredImageOptions & Pick<OutputOptions, 'compress' | 'compressor'>,
): Promise<StreamedImage> {
  const compress = compressionOf(opts);
  checkInput(opts);
  const prepared = await prepare(opts, true);
  const { input, order } = prepared;
  // Once: at the stream's end, at its failure, or when it is closed unread (a generator never started runs no finally).
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= prepared.close());
  let finished: ReturnType<typeof finishImage> | undefined;
  let settle!: { resolve(v: { imageId: string; imageTag: string; diffIds: string[] }): void; reject(err: unknown): void };
  const done = new Promise<{ imageId: string; imageTag: string; diffIds: string[] }>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => {}); // rejections also reach the stream's reader
  // The chunks come back once the engine's connection has written them (UploadBody below).
  const pool = new ChunkPool(STREAM_CHUNK, 16);
  const archive = streamingDockerArchive({
    layers: [...(input.base?.layers ?? []), ...input.layers],
    mtime: input.created.epoch,
    pool,
    finish: (layers) => {
      const o = order?.();
      finished = finishImage(input, o ? o.map((i) => layers[i]!) : layers);
      return { ...finished, order: o };
    },
  });
  async function* gen(): AsyncIterable<Buffer> {
    try {
      yield* compress === 'gzip' ? gzipStream(archive) : archive;
      settle.resolve({ imageId: finished!.configDigest, imageTag: finished!.tag, diffIds: finished!.layers.map((l) => l.diffId) });
    } catch (err) {
      settle.reject(err);
      throw err;
    } finally {
      await close();
    }
  }
  // Piped into a request (the engine's image load), each chunk goes back to the pool once written; read any other way, it is an ordinary stream.
  const stream = new UploadBody(gen(), (chunk) => pool.release(chunk));
  stream.once('close', () => {
    settle.reject(new Error('streamLayeredImage: the stream was closed before its end')); // nothing once resolved
    void close();
  });
  const notYet = (what: string): never => {
    throw new Error(`streamLayeredImage: the ${what} is known once the stream has been read to the end`);
  };
  return {
    imageName: input.name,
    get imageTag() {
      return input.tag ?? finished?.tag ?? notYet('image tag');
    },
    get imageId() {
      return finished?.configDigest ?? notYet('image ID');
    },
    get diffIds() {
      return finished?.layers.map((l) => l.diffId) ?? notYet('list of diff IDs');
    },
    stream,
    done,
  };
}

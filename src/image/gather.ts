// What every layered-image plan starts from (buildLayeredImage's plan in
// layered.ts, streamLayeredImage's one-pass plan in scan-ordered.ts): the
// options checked, the base image opened, the customisation layer made
// (store-path contents linked into it, extraCommands run in it), the
// closure's roots named, and plain directories named by their place.
import { chmod, mkdtemp, rm, symlink, mkdir, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AssembleInput } from './assemble.js';
import { openBaseImage, type BaseImage } from './base-image.js';
import { storePathsIn } from './closure.js';
import type { ImageRuntimeConfig } from './config.js';
import { ROOT_OWNER, treeEntries, type EntryDefaults, type Ownership } from './fs-entries.js';
import { listNames } from './host-names.js';
import { checkMaxLayers, DEFAULT_MAX_LAYERS, type LayeringStrategy } from './layering.js';
import type { ClosureNode } from './popularity.js';
import type { TarEntry } from './tar-writer.js';
import { parseCreated } from './time.js';
import { runHostScript } from './host-script.js';
import { presentStoreRefs } from './command-refs.js';
import type { DockerClient } from '../engine/images.js';
import { OpError } from '../errors.js';
import { denied } from './unreadable.js';
import { checkImageOptions } from './check-options.js';
import { checkInputDirs } from './check-paths.js';
import { engineFor } from './engine-check.js';

export interface LayeredImageOptions extends Partial<Ownership> {
  name: string;
  /** Default: derived from the image content. */
  tag?: string;
  /** Store paths (linked into the root) or plain directories (copied into the root). */
  contents?: string | string[];
  /** Image config (Cmd, Entrypoint, Env, ...); store paths mentioned in it are included. */
  config?: ImageRuntimeConfig;
  /** ISO 8601 time (UTC when it has no zone) or "now" (not reproducible). Default 1970-01-01T00:00:01Z. */
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
  /**
   * Stops the build (the CLI aborts it on SIGINT, SIGTERM and SIGHUP):
   * extraCommands are killed, the fakeRootCommands container and temporary
   * images, the scratch directories and the partial output are removed, and
   * the build rejects with the reason (streamLayeredImage: its stream is
   * destroyed with it).
   */
  signal?: AbortSignal;
}

function toList(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

export function isStorePath(p: string, storeDir: string): boolean {
  return p.startsWith(`${storeDir}/`);
}

/** Link each top-level entry of the store-path contents into `dir`, merging directories that clash. */
async function linkContents(dir: string, sources: string[]): Promise<void> {
  const owners = new Map<string, string[]>();
  for (const src of sources) {
    const st = await lstat(src);
    if (!st.isDirectory()) continue;
    for (const name of denied(() => listNames(src), src, 'list').sort()) owners.set(name, [...(owners.get(name) ?? []), join(src, name)]);
  }
  for (const [name, targets] of owners) {
    const dest = join(dir, name);
    const dirs = [];
    for (const t of targets) if ((await lstat(t)).isDirectory()) dirs.push(t);
    if (targets.length === 1 || dirs.length < 2) {
      await symlink(targets[targets.length - 1]!, dest);
    } else {
      await mkdir(dest);
      await chmod(dest, 0o755); // it goes into the customisation layer: not what the umask leaves of 0755
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

export async function gather(given: LayeredImageOptions): Promise<Gathered> {
  checkImageOptions(given);
  const storeDir = (given.storeDir ?? '/nix/store').replace(/\/+$/, '');
  // A store path may be a file (it keeps its place); a plain directory's contents are copied to the root.
  await checkInputDirs('contents', given.contents, (p) => isStorePath(p, storeDir));
  if (given.enableFakechroot === false) {
    throw new OpError(
      'image_options',
      'enableFakechroot = false is not supported: fakeRootCommands always run inside the image root (in a container on the engine), as with enableFakechroot = true',
      "Leave enableFakechroot out (or set it to true) and write fakeRootCommands for the image's root (cwd /), not for a build directory on the host.",
    );
  }
  // fakeRootCommands need the engine: checked now, not after the layers are made.
  const opts = given.fakeRootCommands ? { ...given, docker: await engineFor('fakeRootCommands', given.docker) } : given;
  const created = parseCreated(opts.created);
  const d: EntryDefaults = { ...ROOT_OWNER, ...pickOwner(opts), mtime: created.epoch };
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
    opts.signal?.throwIfAborted();
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
    if (opts.extraCommands) await runHostScript(opts.extraCommands, scratch, opts.signal).catch(failExtra);
    const customisation = await treeEntries(scratch, '', d);
    opts.signal?.throwIfAborted();
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

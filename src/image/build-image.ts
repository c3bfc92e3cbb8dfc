// buildImage: base image layers, one layer with copyToRoot/contents copied
// into the root, and (with runAsRoot) one layer holding the script's changes,
// made on the engine instead of nixpkgs' KVM VM. `signal` stops it at any
// step; every step's cleanup runs, and the build rejects with its reason.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { assemble } from './assemble.js';
import { openBaseImage, type BaseImage } from './base-image.js';
import type { ImageRuntimeConfig } from './config.js';
// The engine is imported only when runAsRoot needs it.
import type { DockerClient } from '../engine/images.js';
import { mergeEntries, ROOT_OWNER, treeEntries, type EntryDefaults, type Ownership } from './fs-entries.js';
import { entriesLayer, type Layer } from './layer.js';
import { failExtra, pickOwner } from './gather.js';
import { runHostScript } from './host-script.js';
import { scanClosure } from './closure.js';
import type { TarEntry } from './tar-writer.js';
import { checkMaxLayers } from './layering.js';
import { writeImage, type ImageResult, type OutputOptions } from './output.js';
import { parseCreated } from './time.js';
import { stoppable } from './abort.js';
import { checkImageOptions } from './check-options.js';
import { checkInputDirs, checkOutputPath } from './check-paths.js';
import { engineFor } from './engine-check.js';

export interface ImageOptions extends Partial<Ownership> {
  name: string;
  tag?: string;
  /** Base image: docker-archive file or OCI layout directory. */
  fromImage?: string;
  fromImageName?: string;
  fromImageTag?: string;
  /** Directories whose contents are copied into the image root (later ones win). */
  copyToRoot?: string | string[];
  /** Older name for copyToRoot, as in nixpkgs. */
  contents?: string | string[];
  config?: ImageRuntimeConfig;
  created?: string;
  /**
   * Shell commands run with /bin/sh on the host in a scratch copy of the
   * layer (copyToRoot merged), before it is archived: their changes are the layer.
   */
  extraCommands?: string;
  /**
   * Store paths (under storeDir, default /nix/store) that copyToRoot (or
   * extraCommands' output) refers to are put into the layer at their own
   * location with their closure, as nixpkgs does.
   */
  storeDir?: string;
  /** Script run as root over base + contents: run as a file when it starts with "#!", else with the image's /bin/sh -c. */
  runAsRoot?: string;
  /** Host directories (e.g. /nix/store) bind-mounted read-only while runAsRoot runs; needs a local engine. */
  runAsRootMounts?: string[];
  architecture?: string;
  os?: string;
  /** The engine used for runAsRoot; default from DOCKER_HOST or the local socket. */
  docker?: DockerClient;
  /**
   * Stops the build (the CLI aborts it on SIGINT, SIGTERM and SIGHUP): the
   * runAsRoot container and temporary images, the scratch directories and
   * the partial output are removed, and the build rejects with the reason.
   */
  signal?: AbortSignal;
}

export type BuildImageOptions = ImageOptions & OutputOptions;

function toList(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Entries of the store paths the roots refer to, with their closure, each at its own location. */
async function storeClosure(roots: string[], storeDir: string | undefined, d: EntryDefaults): Promise<TarEntry[][]> {
  const dir = (storeDir ?? '/nix/store').replace(/\/+$/, '');
  const lists: TarEntry[][] = [];
  for (const node of await scanClosure(roots, dir)) {
    if (node.path.startsWith(`${dir}/`)) lists.push(await treeEntries(node.path, node.path.replace(/^\/+/, ''), d));
  }
  return lists;
}

/** The copyToRoot directories copied into a scratch directory (later ones win), then extraCommands run in it. */
async function layerWithCommands(dirs: string[], script: string, signal?: AbortSignal): Promise<string> {
  const scratch = await mkdtemp(join(tmpdir(), 'ndt-layer-'));
  try {
    for (const dir of dirs) {
      signal?.throwIfAborted();
      await cp(dir, scratch, { recursive: true, force: true, preserveTimestamps: true, verbatimSymlinks: true });
    }
    await runHostScript(script, scratch, signal).catch(failExtra);
    return scratch;
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}

export async function buildImage(opts: BuildImageOptions): Promise<ImageResult> {
  checkImageOptions(opts);
  await checkInputDirs('copyToRoot', opts.copyToRoot);
  await checkInputDirs('contents', opts.contents);
  await checkOutputPath(opts.out, opts.format === 'oci' ? 'directory' : 'file');
  return stoppable(opts.signal, () => build(opts));
}

async function build(opts: BuildImageOptions): Promise<ImageResult> {
  const { signal } = opts;
  const docker = opts.runAsRoot ? await engineFor('runAsRoot', opts.docker) : undefined;
  const created = parseCreated(opts.created);
  const d: EntryDefaults = { ...ROOT_OWNER, ...pickOwner(opts), mtime: created.epoch };
  let base: BaseImage | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    if (opts.fromImage) {
      base = await openBaseImage(opts.fromImage, opts);
      closers.push(base.close);
      signal?.throwIfAborted();
    }
    checkMaxLayers(125, base?.layers.length ?? 0, { count: opts.runAsRoot ? 1 : 0, what: 'runAsRoot' });
    const dirs = [...toList(opts.copyToRoot), ...toList(opts.contents)].map((p) => resolve(p));
    let roots = dirs;
    if (opts.extraCommands) {
      const scratch = await layerWithCommands(dirs, opts.extraCommands, signal);
      closers.push(() => rm(scratch, { recursive: true, force: true }));
      roots = [scratch];
    }
    const lists = await storeClosure(roots, opts.storeDir, d);
    for (const dir of roots) lists.push(await treeEntries(dir, '', d));
    signal?.throwIfAborted();
    const layers: Layer[] = [entriesLayer(mergeEntries(lists, d), 'contents copied to root')];
    const common = {
      name: opts.name,
      ...(base ? { base } : {}),
      created,
      ...(opts.config ? { config: opts.config } : {}),
      ...(opts.architecture ? { architecture: opts.architecture } : {}),
      ...(opts.os ? { os: opts.os } : {}),
    };
    if (opts.runAsRoot) {
      const before = await assemble({ ...common, tag: 'run-as-root', layers }, signal);
      const { runAsRoot: runScript } = await import('./run-as-root.js');
      const r = await runScript(docker!, before, {
        script: opts.runAsRoot,
        mtime: created.epoch,
        ...(opts.runAsRootMounts ? { mounts: opts.runAsRootMounts.map((m) => resolve(m)) } : {}),
        ...(signal ? { signal } : {}),
      });
      closers.push(r.close);
      layers.push(r.layer);
    }
    const image = await assemble({ ...common, ...(opts.tag !== undefined ? { tag: opts.tag } : {}), layers }, signal);
    return await writeImage(image, image.name, image.tag, opts);
  } finally {
    for (const c of closers.reverse()) await c();
  }
}

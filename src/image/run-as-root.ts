// runAsRoot without a VM: load the image so far into the engine, run the
// script as root in a network-less container, commit it, save it, and keep
// only the committed top layer (the script's filesystem changes), rewritten
// as a normalised layer. Every container and image made here is removed,
// also when the build's AbortSignal stops it at any of these steps.
import { mkdtemp, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadImageStream, removeImageQuietly, saveImage, type DockerClient } from '../engine/images.js';
import { archiveStream } from './output.js';
import type { Assembled } from './assemble.js';
import { readRange, readTarFile, readTarMember, type TarReadEntry } from './tar-reader.js';
import { compareNames } from './fs-entries.js';
import { hardLinkData, readLayerEntries } from './layer-entries.js';
import { entriesLayer, type Layer } from './layer.js';
import { writeTar, type TarEntry } from './tar-writer.js';
import { OpError } from '../errors.js';
import { untilAborted } from './abort.js';

export interface RunAsRootResult {
  layer: Layer;
  /** The layer's entries (the script's changes), for scanning. */
  entries: TarEntry[];
  output: string;
  close(): Promise<void>;
}

const ENGINE_HINT = 'The engine answered something unexpected: check its version (`docker version`) and try again.';

/** Rewrite a layer tar (from the engine) as sorted, normalised entries with a fixed mtime. */
export async function normaliseLayerFile(
  file: string,
  mtime: number,
  exclude: (e: TarReadEntry) => boolean = () => false,
): Promise<TarEntry[]> {
  const refuse = (problem: string) => new OpError('engine_answer', `runAsRoot layer: ${problem}`, ENGINE_HINT);
  const raw = await readLayerEntries(file, refuse);
  // What each name holds so far in the layer's order, a hard link resolved to its data (a link to a link too).
  const placed = new Map<string, TarReadEntry>();
  const out: TarEntry[] = [];
  for (const e of raw) {
    const src = e.type === 'hardlink' ? hardLinkData(e, placed.get(e.linkname), refuse) : e;
    placed.set(e.name, src);
    if (e.type === 'other' || exclude(e)) continue;
    const isFile = e.type === 'file' || e.type === 'hardlink';
    const owner = { uid: e.uid, gid: e.gid, uname: e.uid === 0 ? 'root' : '', gname: e.gid === 0 ? 'root' : '' };
    const base = { name: e.name, mode: e.mode, mtime, ...owner, size: isFile ? src.size : 0 };
    if (isFile) out.push({ ...base, type: 'file', stream: () => readRange(file, src.offset, src.size) });
    else if (e.type === 'symlink') out.push({ ...base, type: 'symlink', linkname: e.linkname });
    else if (e.type === 'char' || e.type === 'block') out.push({ ...base, type: e.type, devmajor: e.devmajor, devminor: e.devminor });
    else out.push({ ...base, type: e.type });
  }
  return out.sort((a, b) => compareNames(a.name, b.name));
}

export interface RunAsRootOptions {
  script: string;
  /** The option the script came from, for messages (default "runAsRoot"). */
  what?: 'runAsRoot' | 'fakeRootCommands';
  mtime: number;
  /** Host directories bind-mounted read-only at the same path (e.g. /nix/store); local engines only. */
  mounts?: string[];
  /** Stops it at any step (the load, the script, the save): the container and the images are removed, it rejects. */
  signal?: AbortSignal;
}

const SCRIPT_PATH = '.ndt-run-as-root';

async function scriptArchive(script: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const data = Buffer.from(script);
  for await (const c of writeTar([
    { name: SCRIPT_PATH, type: 'file', mode: 0o700, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 0, size: data.length, data },
  ]))
    chunks.push(c);
  return Buffer.concat(chunks);
}

/** Mount points the engine creates for bind mounts must not end up in the layer. */
function mountArtifacts(mounts: string[]): (e: TarReadEntry) => boolean {
  const names = new Set<string>();
  for (const m of mounts) {
    const parts = m.replace(/^\/+|\/+$/g, '').split('/');
    for (let i = 1; i <= parts.length; i++) names.add(parts.slice(0, i).join('/'));
  }
  return (e) => e.name === SCRIPT_PATH || (e.type === 'dir' && names.has(e.name));
}

/**
 * The engine cannot start the script: the image has no /bin/sh (or no
 * interpreter of the #! line). Said as such, instead of the runtime's
 * `exec: "/bin/sh": stat /bin/sh: no such file or directory`.
 */
function noInterpreter(err: unknown, script: string, what: string): unknown {
  const message = (err as Error).message ?? String(err);
  if (!/no such file or directory|not found|exec format error/i.test(message)) return err;
  const shebang = script.startsWith('#!') ? script.slice(2).split('\n')[0]!.trim().split(/\s+/)[0] : undefined;
  const needs = shebang ? `${shebang} (the interpreter of its #! line)` : '/bin/sh';
  return new OpError(
    'run_as_root_shell',
    `${what} cannot run: the image has no ${needs} (they run inside the image, as root, on the engine; the engine said: ${message.trim()})`,
    shebang
      ? `Put ${shebang} into the image (copyToRoot or contents, e.g. a static busybox or a store path), or change the #! line to an interpreter the image has.`
      : `Put a /bin/sh into the image before ${what} runs (e.g. a static busybox with a bin/sh link in copyToRoot or contents), or start the script with #! and an interpreter the image has.`,
  );
}

/** The top layer of the committed image (what the script changed), saved by the engine and cut out into tmp/changes.tar. */
async function committedLayer(docker: DockerClient, ref: string, tmp: string, signal: AbortSignal | undefined): Promise<string> {
  const saved = join(tmp, 'saved.tar');
  await saveImage(docker, ref, saved, signal);
  const entries = new Map<string, TarReadEntry>();
  for await (const e of readTarFile(saved)) entries.set(e.name, e);
  const manifestEntry = entries.get('manifest.json');
  if (!manifestEntry) throw new OpError('engine_answer', "runAsRoot: the engine's image save has no manifest.json", ENGINE_HINT);
  const manifest = JSON.parse((await readTarMember(saved, manifestEntry)).toString()) as { Layers: string[] }[];
  const top = manifest[0]?.Layers.at(-1);
  const topEntry = top ? entries.get(top) : undefined;
  if (!topEntry) throw new OpError('engine_answer', 'runAsRoot: cannot find the committed layer', ENGINE_HINT);
  const layerFile = join(tmp, 'changes.tar');
  await pipeline(Readable.from(readRange(saved, topEntry.offset, topEntry.size)), createWriteStream(layerFile));
  await rm(saved);
  return layerFile;
}

export async function runAsRoot(docker: DockerClient, image: Assembled, opts: RunAsRootOptions): Promise<RunAsRootResult> {
  const { script, mtime, signal } = opts;
  const what = opts.what ?? 'runAsRoot';
  signal?.throwIfAborted();
  const mounts = opts.mounts ?? [];
  const shebang = script.startsWith('#!');
  const id = randomBytes(6).toString('hex');
  const tmpRef = `ndt-run-as-root-${id}:base`;
  const committedRef = `ndt-run-as-root-${id}:changed`;
  const tmp = await mkdtemp(join(tmpdir(), 'ndt-runasroot-'));
  let containerId: string | undefined;
  const cleanupEngine = async () => {
    if (containerId)
      await docker
        .getContainer(containerId)
        .remove({ force: true, v: true })
        .catch(() => undefined);
    await removeImageQuietly(docker, committedRef).catch(() => undefined);
    await removeImageQuietly(docker, tmpRef).catch(() => undefined);
  };
  const close = () => rm(tmp, { recursive: true, force: true });
  try {
    await loadImageStream(docker, untilAborted(archiveStream({ ...image, repoTags: [tmpRef] }, 'none'), signal));
    signal?.throwIfAborted();
    const c = await docker.createContainer({
      Image: tmpRef,
      // A script with a shebang runs as a file, otherwise through /bin/sh -e -c: the first failing command stops
      // it, as nixpkgs' shellScript (`set -e`) runs runAsRoot.
      Entrypoint: shebang ? [`/${SCRIPT_PATH}`] : ['/bin/sh', '-e', '-c'],
      Cmd: shebang ? [] : [script],
      User: '0:0',
      WorkingDir: '/',
      NetworkDisabled: true,
      HostConfig: { NetworkMode: 'none', Binds: mounts.map((m) => `${m}:${m}:ro`) },
      Tty: true,
    });
    containerId = c.id;
    if (shebang) await c.putArchive(await scriptArchive(script), { path: '/' });
    signal?.throwIfAborted();
    await c.start().catch((err: unknown) => {
      throw noInterpreter(err, script, what);
    });
    // An abort ends the wait; cleanupEngine below removes the running container (killing the script).
    const { StatusCode } = (await c.wait(signal ? { abortSignal: signal } : {})) as { StatusCode: number };
    signal?.throwIfAborted();
    const output = (await c.logs({ stdout: true, stderr: true })).toString();
    // A missing #! interpreter is only known once the container runs: the runtime's exec fails.
    if (StatusCode !== 0 && shebang && output.includes(`exec /${SCRIPT_PATH}: no such file or directory`)) {
      throw noInterpreter(new Error(output), script, what);
    }
    if (StatusCode !== 0) {
      throw new OpError(
        'run_as_root',
        `${what} script failed with status ${StatusCode}:\n${output}`,
        `Fix the ${what} script (its output is above); it runs as root in the image without network.`,
      );
    }
    const [repo, tag] = committedRef.split(':');
    await c.commit({ repo, tag });
    signal?.throwIfAborted();
    const layerFile = await committedLayer(docker, committedRef, tmp, signal);
    const changes = await normaliseLayerFile(layerFile, mtime, mountArtifacts(mounts));
    signal?.throwIfAborted();
    return { layer: entriesLayer(changes, 'runAsRoot changes'), entries: changes, output, close };
  } catch (err) {
    await close();
    throw err;
  } finally {
    await cleanupEngine();
  }
}

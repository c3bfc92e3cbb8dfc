// Scaffolding for the tree sync tests (real engine): created containers of
// the example image that mount a volume, running `finish` as root, and a
// listing of a tree (type, mode, owner, mtime to the nanosecond, size, link
// target, content hash) made the same way on the host and in the volume.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import Docker from 'dockerode';
import { Parser } from 'tar';
import { NEW_TAG } from '../helpers/example.js';

export const docker = new Docker();
export const LABEL = { 'nerves-docker-ts.test': 'sync' };

/** A created (not started) container of the example image with `volume` at `root`, as root. */
export async function createBox(
  volume: string,
  root: string,
  cmd: string[] = ['sleep', '600'],
  more: Docker.MountSettings[] = [],
): Promise<Docker.Container> {
  return docker.createContainer({
    Image: NEW_TAG,
    Cmd: cmd,
    User: '0',
    Labels: LABEL,
    HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: root }, ...more] },
  });
}

/** afterAll of a sync test: its boxes left by a failure, its volume and its temp dir go. */
export async function removeSyncScaffolding(volume: string, dir: string | undefined): Promise<void> {
  const left = await docker.listContainers({ all: true, filters: JSON.stringify({ label: ['nerves-docker-ts.test=sync'] }) });
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true });
  await docker
    .getVolume(volume)
    .remove()
    .catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** Splits a non-TTY log/attach stream (8-byte frame headers) into stdout and stderr. */
function demux(buf: Buffer): { stdout: Buffer; stderr: Buffer } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  for (let i = 0; i + 8 <= buf.length;) {
    const len = buf.readUInt32BE(i + 4);
    (buf[i] === 2 ? err : out).push(buf.subarray(i + 8, i + 8 + len));
    i += 8 + len;
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}

/** Runs argv as root in the started container; resolves with its exit code and output. */
export async function execRoot(c: Docker.Container, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const exec = await c.exec({ Cmd: argv, User: '0', AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const { stdout, stderr } = demux(Buffer.concat(chunks));
  const info = await exec.inspect();
  return { code: info.ExitCode ?? -1, stdout: stdout.toString(), stderr: stderr.toString() };
}

/** Runs a command as root in a fresh container with the volume; its stdout. */
export async function runIn(volume: string, root: string, cmd: string[]): Promise<Buffer> {
  const c = await createBox(volume, root, cmd);
  try {
    await c.start();
    await c.wait();
    const logs = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return demux(logs).stdout;
  } finally {
    await c.remove({ force: true });
  }
}

const FORMAT = '%P\\0%y\\0%m\\0%U\\0%G\\0%T@\\0%s\\0%l\\0';

/** Rows of `find -printf` (sizes of directories and links dropped: they depend on the filesystem). */
function rows(out: Buffer): string[] {
  const f = out.toString('utf8').split('\0');
  const r: string[] = [];
  for (let i = 0; i + 8 <= f.length; i += 8) {
    const [path, type, mode, uid, gid, mtime, size, link] = f.slice(i, i + 8);
    r.push([path, type, mode, uid, gid, mtime, type === 'f' ? size : '-', link].join(' | '));
  }
  return r.sort();
}

export function hostListing(dir: string, prune: string[] = []): string[] {
  const args = [
    dir,
    '(',
    '-path',
    `${dir}/.ndt-sync`,
    ...prune.flatMap((p) => ['-o', '-path', `${dir}/${p}`]),
    ')',
    '-prune',
    '-o',
    '-printf',
    FORMAT,
  ];
  return rows(execFileSync('find', args, { maxBuffer: 1 << 28 }));
}

export async function volumeListing(volume: string, root: string): Promise<string[]> {
  return rows(await runIn(volume, root, ['find', root, '-path', `${root}/.ndt-sync`, '-prune', '-o', '-printf', FORMAT]));
}

/** sha256 of each file's content in the volume, read through the archive API of a container. */
export async function volumeHashes(c: Docker.Container, root: string): Promise<Map<string, string>> {
  const res = (await c.getArchive({ path: root })) as unknown as NodeJS.ReadableStream;
  const base = root.split('/').pop()!;
  const out = new Map<string, string>();
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      onReadEntry: (e) => {
        if (e.type !== 'File' || e.path.startsWith(`${base}/.ndt-sync/`)) return void e.resume();
        const h = createHash('sha256');
        e.on('data', (b: Buffer) => h.update(b));
        e.on('end', () => out.set(e.path.slice(base.length + 1), h.digest('hex')));
      },
    });
    parser.on('end', resolve);
    parser.on('error', reject);
    res.on('error', reject);
    res.pipe(parser);
  });
  return out;
}

export function hostHashes(dir: string, files: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of files)
    out.set(
      f,
      createHash('sha256')
        .update(readFileSync(`${dir}/${f}`))
        .digest('hex'),
    );
  return out;
}

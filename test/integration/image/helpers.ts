// Shared helpers for the image integration tests: a real engine, real peers
// (skopeo, umoci, runc, docker-registry), a busybox rootfs made from the host,
// and cleanup of every image and container a test creates.
import { docker, engineAnswers } from '../helpers/example.js';
import { mkdir, copyFile, symlink, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReadStream } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export { docker, engineAnswers };

export const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));

/** A tiny root filesystem: a static busybox and its applet links. */
export async function busyboxRootfs(
  dir: string,
  applets = ['sh', 'ls', 'cat', 'echo', 'id', 'rm', 'mkdir', 'touch', 'find', 'sort'],
): Promise<string> {
  if (!BUSYBOX) throw new Error('busybox is needed for the image tests (apt-get install busybox-static)');
  await mkdir(join(dir, 'bin'), { recursive: true });
  await copyFile(BUSYBOX, join(dir, 'bin', 'busybox'));
  for (const a of applets) await symlink('busybox', join(dir, 'bin', a));
  return dir;
}

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Load an archive with the engine; fail on any error line in the response. */
export async function loadArchive(file: string): Promise<string[]> {
  const res = (await docker.loadImage(createReadStream(file), { quiet: true })) as NodeJS.ReadableStream;
  let body = '';
  for await (const chunk of res) body += chunk.toString();
  const loaded: string[] = [];
  for (const line of body.split(/\r?\n/).filter(Boolean)) {
    const msg = JSON.parse(line) as { stream?: string; error?: string; errorDetail?: { message: string } };
    if (msg.error || msg.errorDetail) throw new Error(`docker load: ${msg.error ?? msg.errorDetail?.message}`);
    const m = /Loaded image(?: ID)?: (\S+)/.exec(msg.stream ?? '');
    if (m) loaded.push(m[1]!);
  }
  if (loaded.length === 0) throw new Error(`docker load reported nothing: ${body}`);
  return loaded;
}

export class Cleanup {
  images = new Set<string>();
  containers = new Set<string>();
  async run(): Promise<void> {
    for (const id of this.containers)
      await docker
        .getContainer(id)
        .remove({ force: true, v: true })
        .catch(() => undefined);
    this.containers.clear();
    for (const ref of this.images)
      await docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => undefined);
    this.images.clear();
  }
}

/** Run a command in a container from `image` (no network) and return its output. */
export async function runIn(image: string, cmd: string[] | undefined, cleanup: Cleanup): Promise<{ code: number; output: string }> {
  const c = await docker.createContainer({ Image: image, ...(cmd ? { Cmd: cmd } : {}), HostConfig: { NetworkMode: 'none' }, Tty: true });
  cleanup.containers.add(c.id);
  await c.start();
  const { StatusCode } = (await c.wait()) as { StatusCode: number };
  const logs = await c.logs({ stdout: true, stderr: true });
  return { code: StatusCode, output: logs.toString() };
}

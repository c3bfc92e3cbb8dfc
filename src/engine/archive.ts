// Small files out of a container (created or running) through the Engine
// API's archive endpoint: GET /containers/{id}/archive answers a tar of the
// path; for a small regular file its contents are read here, bounded.
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { engineMessage, isNotFound } from './errors.js';

/** The contents of the regular file at `path`, or null when it is not there, not a file, or over `max` bytes. */
export async function readSmallFile(container: Docker.Container, path: string, max = 64 * 1024): Promise<Buffer | null> {
  let stream: Readable;
  try {
    stream = (await container.getArchive({ path })) as unknown as Readable;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw new Error(`could not read ${path} in the container: ${engineMessage(err)}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max + 4096) {
      stream.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  return firstFile(Buffer.concat(chunks));
}

/** The first regular file of a tar archive (pax headers skipped); null when the first other entry is not one. */
function firstFile(tar: Buffer): Buffer | null {
  for (let at = 0; at + 512 <= tar.length;) {
    const size = parseInt(
      tar
        .subarray(at + 124, at + 136)
        .toString('ascii')
        .replace(/\0.*$/s, '')
        .trim() || 'x',
      8,
    );
    const type = String.fromCharCode(tar[at + 156]!);
    if (!Number.isInteger(size) || size < 0 || at + 512 + size > tar.length) return null;
    if (type === '0' || type === '\0') return tar.subarray(at + 512, at + 512 + size);
    if (type !== 'x' && type !== 'g') return null;
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return null;
}

/** What HEAD /containers/{id}/archive says of a path (a stat, no bytes: milliseconds where a GET takes tens); null when it is not there. */
export async function statPath(container: Docker.Container, path: string): Promise<{ name: string; size: number } | null> {
  let res: { headers?: Record<string, string | string[] | undefined>; destroy?: () => void };
  try {
    res = (await container.infoArchive({ path })) as typeof res;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw new Error(`could not stat ${path} in the container: ${engineMessage(err)}`);
  }
  res.destroy?.();
  const header = res.headers?.['x-docker-container-path-stat'];
  if (typeof header !== 'string') return null;
  try {
    const stat = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as { name?: unknown; size?: unknown };
    return typeof stat.name === 'string' && typeof stat.size === 'number' ? { name: stat.name, size: stat.size } : null;
  } catch {
    return null;
  }
}

// Small files out of a container (created or running) through the Engine
// API's archive endpoint: GET /containers/{id}/archive answers a tar of the
// path; for a small regular file its contents are read here, bounded.
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { engineMessage, isNotFound } from './errors.js';
import { OneFileTar } from './one-file-tar.js';

/**
 * The contents of the regular file at `path`, or null when it is not there,
 * not a file, or over `max` bytes. An abort of `signal` abandons the request
 * (and rejects).
 */
export async function readSmallFile(
  container: Docker.Container,
  path: string,
  max = 64 * 1024,
  signal?: AbortSignal,
): Promise<Buffer | null> {
  let stream: Readable;
  try {
    stream = (await container.getArchive({ path, abortSignal: signal })) as unknown as Readable;
  } catch (err) {
    if (signal?.aborted) throw err;
    if (isNotFound(err)) return null;
    throw new Error(`could not read ${path} in the container: ${engineMessage(err)}`);
  }
  const tar = new OneFileTar();
  const chunks: Buffer[] = [];
  let total = 0;
  // A tar this reader refuses is not the small file asked for (null); a stream that fails is an error.
  const slices = (chunk: Buffer | null): Buffer[] | null => {
    try {
      if (chunk !== null) return tar.push(chunk);
      tar.finish();
      return [];
    } catch {
      return null;
    }
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const got = slices(chunk);
      if (got === null) return null;
      for (const slice of got) {
        total += slice.length;
        if (total > max) return null;
        chunks.push(slice);
      }
    }
  } finally {
    stream.destroy();
  }
  if (slices(null) === null) return null;
  return tar.found && tar.fileFirst ? Buffer.concat(chunks) : null;
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

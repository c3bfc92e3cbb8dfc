// Reads a path of a created container through the archive API (GET
// /containers/{id}/archive) and hands each tar entry to a callback, streaming:
// nothing is held but what the callback keeps. A limit on the bytes read
// stops a stream that is larger than the caller is ready to trust.
import type Docker from 'dockerode';
import { Parser, type ReadEntry } from 'tar';

export class ArchiveTooLarge extends Error {}

/**
 * Streams the archive of `path`; onEntry gets each entry (its name as the
 * engine gives it, e.g. "platform/a/b") and must consume or resume it.
 * Resolves when the archive ends; rejects with ArchiveTooLarge past maxBytes.
 */
export async function readArchive(
  container: Docker.Container,
  path: string,
  maxBytes: number,
  onEntry: (e: ReadEntry) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const res = (await container.getArchive({ path, abortSignal: signal })) as unknown as NodeJS.ReadableStream & {
    destroy(err?: Error): void;
  };
  await new Promise<void>((resolve, reject) => {
    let read = 0;
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      res.destroy();
      reject(err);
    };
    const parser = new Parser({
      onReadEntry: (entry) => {
        Promise.resolve(onEntry(entry)).catch((err: Error) => fail(err));
      },
    });
    parser.on('error', (err: Error) => fail(err));
    parser.on('end', () => {
      if (!failed) resolve();
    });
    res.on('error', (err: Error) => fail(err));
    res.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read > maxBytes) return fail(new ArchiveTooLarge(`${path}: more than ${maxBytes} bytes`));
      if (!parser.write(chunk)) {
        res.pause();
        parser.once('drain', () => res.resume());
      }
    });
    res.on('end', () => parser.end());
  });
}

/** The whole content of a small entry, or null past maxBytes (the entry is then drained). */
export function collect(entry: ReadEntry, maxBytes: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    entry.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= maxBytes) chunks.push(c);
    });
    entry.on('end', () => resolve(size <= maxBytes ? Buffer.concat(chunks) : null));
    entry.on('error', reject);
  });
}

// Deterministic tar writer: the entries' headers (tar-header.ts), their data
// and padding in chunks. Every byte comes from the entry fields; nothing is
// read from the clock or the environment, so the same entries give the same
// archive. A host file this user may not read is an `input_path` error
// naming it (unreadable.ts).
import { closeSync, openSync, readSync } from 'node:fs';
import { OpError } from '../errors.js';
import { denied } from './unreadable.js';
import type { ChunkPool } from './chunk-pool.js';
import { BLOCK, END_OF_ARCHIVE, entryHeader, headerSize, writeHeaderAt, type TarEntry } from './tar-header.js';

export { END_OF_ARCHIVE, entryHeader, type TarEntry, type TarEntryType } from './tar-header.js';

/** writeTar's output comes in chunks of this size (but for `stream` entries, passed through), or of its pool's. */
export const TAR_CHUNK = 1 << 20;

/**
 * The number of bytes writeTar(entries) produces, from the entry fields alone
 * (no data is read): what a tar header of an archive holding this one must
 * say before its data is produced. writeTar fails if a file's data does not
 * have the size its entry says, so the two always agree.
 */
export function tarSize(entries: Iterable<TarEntry>, opts: { end?: boolean } = {}): number {
  let size = opts.end === false ? 0 : END_OF_ARCHIVE.length;
  for (const e of entries) size += entryTarSize(e);
  return size;
}

/** The bytes writeTar writes for one entry: its header, its data and the data's padding. */
export function entryTarSize(e: TarEntry): number {
  return headerSize(e) + (e.type === 'file' ? e.size + ((BLOCK - (e.size % BLOCK)) % BLOCK) : 0);
}

export function padding(size: number): Buffer {
  const rem = size % BLOCK;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rem);
}

const CHANGED_HINT = 'A file was modified while the image was built: build again when nothing writes to the inputs.';

function changed(e: TarEntry, read: number): Error {
  return new OpError(
    'inputs_changed',
    `${e.hostPath ?? e.name} changed while being archived (expected ${e.size} bytes, read ${read})`,
    CHANGED_HINT,
  );
}

function grew(e: TarEntry): Error {
  return new OpError('inputs_changed', `${e.hostPath ?? e.name} grew while being archived (expected ${e.size} bytes)`, CHANGED_HINT);
}

/**
 * The chunk writeTar is filling: headers, padding and file contents go
 * straight into it; full chunks wait in `ready` until they are yielded.
 */
class Chunks {
  out: Buffer;
  pos = 0;
  /** Chunks filled and not yet yielded. */
  readonly ready: Buffer[] = [];

  constructor(private readonly pool: ChunkPool | undefined) {
    this.out = this.take();
  }

  take(): Buffer {
    return this.pool ? this.pool.take() : Buffer.allocUnsafe(TAR_CHUNK);
  }

  /** After `n` more bytes were written at `pos`: a full chunk goes to `ready`. */
  advance(n: number): void {
    this.pos += n;
    if (this.pos === this.out.length) {
      this.ready.push(this.out);
      this.out = this.take();
      this.pos = 0;
    }
  }

  /** e's header: in place when it is one plain block and the chunk has a block free (it has, unless a pool's chunks are not whole blocks). */
  header(e: TarEntry): void {
    if (this.out.length - this.pos >= BLOCK && writeHeaderAt(this.out, this.pos, e)) this.advance(BLOCK);
    else this.put(entryHeader(e));
  }

  put(b: Buffer): void {
    for (let off = 0; off < b.length;) {
      const n = b.copy(this.out, this.pos, off);
      off += n;
      this.advance(n);
    }
  }

  zeros(n: number): void {
    while (n > 0) {
      const k = Math.min(n, this.out.length - this.pos);
      this.out.fill(0, this.pos, this.pos + k);
      n -= k;
      this.advance(k);
    }
  }

  /** The full chunks, taken (the caller yields them one by one: a `yield*` per call made writeTar's optimised code several times bigger). */
  takeReady(): Buffer[] {
    return this.ready.splice(0);
  }

  /**
   * The full chunks and what is written of this one: before a pass-through
   * (the rest of this chunk, or a new one, is written next) and at the end.
   */
  takeAll(part: 'continue' | 'end'): Buffer[] {
    const out = this.takeReady();
    if (this.pos === 0) return out;
    out.push(this.out.subarray(0, this.pos));
    if (part === 'continue') {
      // Go on in the rest of this chunk unless that is too small to be worth a write of its own (or is lent by a pool).
      this.out = !this.pool && this.out.length - this.pos >= TAR_CHUNK / 16 ? this.out.subarray(this.pos) : this.take();
      this.pos = 0;
    }
    return out;
  }
}

/** A `stream` entry's chunks, passed through as they come, checked against its size. */
async function* passThrough(e: TarEntry & { stream: () => AsyncIterable<Buffer> }): AsyncIterable<Buffer> {
  let written = 0;
  for await (const chunk of e.stream()) {
    written += chunk.length;
    if (written > e.size) throw grew(e);
    yield chunk;
  }
  if (written !== e.size) throw changed(e, written);
}

/**
 * Reads a host file's next bytes straight into the chunks, until its end or
 * until a chunk is full (asking for one byte more than is left tells if the
 * file grew): true when a chunk filled up and more may follow, false at the
 * file's end. A read that asked for that one byte more and got every byte
 * but it is the end (a regular file reads short only there): no second read
 * that returns nothing, which was one system call in five of a small file.
 * A plain function called in a loop, not a generator per file: thousands of
 * small files made that 5% slower.
 */
function readHostFile(c: Chunks, e: TarEntry, file: { fd: number; read: number }): boolean {
  for (;;) {
    const want = Math.min(e.size - file.read + 1, c.out.length - c.pos);
    const n = readSync(file.fd, c.out, c.pos, want, null);
    if (n === 0) break;
    if (file.read + n > e.size) throw grew(e);
    e.onData?.(c.out.subarray(c.pos, c.pos + n), file.read, file.read + n === e.size);
    file.read += n;
    c.advance(n);
    if (n < want && file.read === e.size) return false;
    if (c.ready.length > 0) return true;
  }
  if (file.read !== e.size) throw changed(e, file.read);
  return false;
}

/**
 * Stream a tar archive of the given entries, in the order given, in chunks
 * of TAR_CHUNK bytes: headers, padding and the files' contents are written
 * straight into the chunk (host files with synchronous reads, which for
 * trees of small files are several times faster than the promise API, and
 * need no buffer of their own and no copy). `stream` entries are passed
 * through as they come. With `pool`, the chunks are taken from it, and a
 * chunk once yielded is never written again (a part of one buffer is never
 * yielded twice): the consumer may hand it back when it has no more use for it.
 */
export async function* writeTar(
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  opts: { end?: boolean; pool?: ChunkPool } = {},
): AsyncIterable<Buffer> {
  const c = new Chunks(opts.pool);
  for await (const e of entries) {
    c.header(e);
    if (e.type === 'file') {
      if (e.data) {
        if (e.data.length !== e.size) throw changed(e, e.data.length);
        c.put(e.data);
      } else if (e.stream) {
        for (const b of c.takeAll('continue')) yield b;
        yield* passThrough(e as TarEntry & { stream: () => AsyncIterable<Buffer> });
      } else if (e.hostPath) {
        const file = { fd: denied(() => openSync(e.hostPath!, 'r'), e.hostPath, 'read'), read: 0 };
        try {
          while (readHostFile(c, e, file)) for (const b of c.takeReady()) yield b;
        } finally {
          closeSync(file.fd);
        }
      } else if (e.size > 0) {
        throw new Error(`tar entry ${e.name} has size ${e.size} but no data`);
      }
      c.zeros((BLOCK - (e.size % BLOCK)) % BLOCK);
    }
    if (c.ready.length > 0) for (const b of c.takeReady()) yield b;
  }
  if (opts.end !== false) c.zeros(END_OF_ARCHIVE.length);
  for (const b of c.takeAll('end')) yield b;
}

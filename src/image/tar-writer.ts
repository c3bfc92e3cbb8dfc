// Deterministic tar writer: ustar headers, pax records only when a field does
// not fit. Every byte comes from the entry fields; nothing is read from the
// clock or the environment, so the same entries give the same archive.
import { closeSync, openSync, readSync } from 'node:fs';
import { OpError } from '../errors.js';
import type { ChunkPool } from './chunk-pool.js';

/** writeTar's output comes in chunks of this size (but for `stream` entries, passed through), or of its pool's. */
export const TAR_CHUNK = 1 << 20;

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  /** Path inside the archive, relative, "/"-separated, without a trailing slash. */
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Seconds since the epoch. */
  mtime: number;
  /** Nanoseconds past `mtime` (0 to 999,999,999): when set and not 0, a pax mtime record keeps them. */
  mtimeNsec?: number;
  size: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Contents of a file entry: bytes, a host file, or a producer. */
  data?: Buffer;
  hostPath?: string;
  stream?: () => AsyncIterable<Buffer>;
  /**
   * Called with each piece of a `hostPath` file's contents as it is read, and
   * where in the file the piece starts (e.g. to scan it while it is sent). The
   * piece is a view of the output chunk: copy what must outlive the call.
   */
  onData?: (chunk: Buffer, offset: number) => void;
}

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

const BLOCK = 512;
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

// The header's fields are written in place: a sync writes a header per file,
// and every string or buffer made on the way is garbage to collect.

/** `value` in UTF-8, cut after `length` bytes. */
function writeString(buf: Buffer, value: string, offset: number, length: number): void {
  if (value === '') return;
  if (Buffer.byteLength(value) <= length) buf.write(value, offset, length, 'utf8');
  else Buffer.from(value, 'utf8').copy(buf, offset, 0, length);
}

const zeroBlock = () => Buffer.allocUnsafe(BLOCK).fill(0);

/** Octal field: digits padded with zeros, then NUL. Returns false if it does not fit. */
function writeOctal(buf: Buffer, value: number, offset: number, length: number): boolean {
  const digits = Math.max(0, Math.floor(value)).toString(8);
  if (digits.length > length - 1 || value < 0) return false;
  const start = offset + length - 1 - digits.length;
  buf.fill(0x30, offset, start);
  buf.write(digits, start, digits.length, 'ascii');
  buf[offset + length - 1] = 0;
  return true;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** Split a name into ustar prefix and name; null when impossible. */
function splitName(name: string): [string, string] | null {
  const bytes = Buffer.byteLength(name);
  if (bytes <= 100) return ['', name];
  if (bytes > 256) return null;
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return [prefix, rest];
  }
  return null;
}

/** The ustar header of `e` in `h` (BLOCK bytes, zeroed), noting in `pax` the fields that do not fit. */
function rawHeader(e: TarEntry, name: string, type: string, size: number, pax: Map<string, string>, h = zeroBlock()): Buffer {
  const split = splitName(name);
  if (split) {
    writeString(h, split[1], 0, 100);
    writeString(h, split[0], 345, 155);
  } else {
    pax.set('path', name);
    writeString(h, Buffer.from(name).subarray(0, 100).toString('latin1'), 0, 100);
  }
  writeOctal(h, e.mode & 0o7777, 100, 8);
  if (!writeOctal(h, e.uid, 108, 8)) {
    pax.set('uid', String(e.uid));
    writeOctal(h, 0, 108, 8);
  }
  if (!writeOctal(h, e.gid, 116, 8)) {
    pax.set('gid', String(e.gid));
    writeOctal(h, 0, 116, 8);
  }
  if (!writeOctal(h, size, 124, 12)) {
    pax.set('size', String(size));
    writeOctal(h, 0, 124, 12);
  }
  if (!writeOctal(h, e.mtime, 136, 12)) {
    pax.set('mtime', String(e.mtime));
    writeOctal(h, 0, 136, 12);
  }
  if (e.mtimeNsec) pax.set('mtime', `${Math.floor(e.mtime)}.${String(e.mtimeNsec).padStart(9, '0')}`);
  h.write(type, 156, 1, 'ascii');
  const link = e.linkname ?? '';
  if (Buffer.byteLength(link) > 100) pax.set('linkpath', link);
  else writeString(h, link, 157, 100);
  h.write('ustar\u000000', 257, 8, 'latin1');
  if (Buffer.byteLength(e.uname) > 32) pax.set('uname', e.uname);
  else writeString(h, e.uname, 265, 32);
  if (Buffer.byteLength(e.gname) > 32) pax.set('gname', e.gname);
  else writeString(h, e.gname, 297, 32);
  writeOctal(h, e.devmajor ?? 0, 329, 8);
  writeOctal(h, e.devminor ?? 0, 337, 8);
  return h;
}

function checksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
}

/** Header block(s) for an entry: an optional pax header, then the ustar header. */
export function entryHeader(e: TarEntry): Buffer {
  const name = e.type === 'dir' ? `${e.name}/` : e.name;
  const size = e.type === 'file' ? e.size : 0;
  const pax = new Map<string, string>();
  const h = rawHeader(e, name, TYPEFLAG[e.type], size, pax);
  checksum(h);
  if (pax.size === 0) return h;
  const keys = [...pax.keys()].sort();
  let body = '';
  for (const k of keys) body += paxRecord(k, pax.get(k)!);
  const bodySize = Buffer.byteLength(body);
  const trimmed = name.endsWith('/') ? name.slice(0, -1) : name;
  const base = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  // The fields rawHeader reads (a spread of `e` would copy its data, stream... into a slow object).
  const paxEntry: TarEntry = {
    name: `PaxHeaders/${base}`.slice(0, 99),
    type: 'file',
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    uname: e.uname,
    gname: e.gname,
    mtime: e.mtime,
    mtimeNsec: e.mtimeNsec,
    size: bodySize,
    linkname: '',
    devmajor: e.devmajor,
    devminor: e.devminor,
  };
  // The pax header, its records, their padding, then the entry's own header: one buffer.
  const out = Buffer.allocUnsafe(BLOCK + bodySize + ((BLOCK - (bodySize % BLOCK)) % BLOCK) + BLOCK).fill(0);
  checksum(rawHeader(paxEntry, paxEntry.name, 'x', bodySize, new Map(), out.subarray(0, BLOCK)));
  out.write(body, BLOCK, bodySize, 'utf8');
  h.copy(out, out.length - BLOCK);
  return out;
}

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

/** entryHeader(e).length, without making the header in the common case (one block, no pax record). */
function headerSize(e: TarEntry): number {
  const simple =
    Buffer.byteLength(e.name) < 100 &&
    (e.linkname === undefined || Buffer.byteLength(e.linkname) <= 100) &&
    Buffer.byteLength(e.uname) <= 32 &&
    Buffer.byteLength(e.gname) <= 32 &&
    e.uid >= 0 &&
    e.uid <= MAX_OCTAL_7 &&
    e.gid >= 0 &&
    e.gid <= MAX_OCTAL_7 &&
    e.mtime >= 0 &&
    e.mtime <= MAX_OCTAL_11 &&
    !e.mtimeNsec &&
    e.size >= 0 &&
    e.size <= MAX_OCTAL_11;
  return simple ? BLOCK : entryHeader(e).length;
}

/**
 * The number of bytes writeTar(entries) produces, from the entry fields alone
 * (no data is read): what a tar header of an archive holding this one must
 * say before its data is produced. writeTar fails if a file's data does not
 * have the size its entry says, so the two always agree.
 */
export function tarSize(entries: Iterable<TarEntry>, opts: { end?: boolean } = {}): number {
  let size = opts.end === false ? 0 : END_OF_ARCHIVE.length;
  for (const e of entries) {
    size += headerSize(e);
    if (e.type === 'file') size += e.size + ((BLOCK - (e.size % BLOCK)) % BLOCK);
  }
  return size;
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

  /**
   * The full chunks, and with `part`, what is written of this one: before a
   * pass-through ("continue": the rest of this chunk, or a new one, is
   * written next) and at the end ("end").
   */
  *flush(part?: 'continue' | 'end'): Iterable<Buffer> {
    yield* this.ready.splice(0);
    if (part === undefined || this.pos === 0) return;
    const head = this.out.subarray(0, this.pos);
    if (part === 'continue') {
      // Go on in the rest of this chunk unless that is too small to be worth a write of its own (or is lent by a pool).
      this.out = !this.pool && this.out.length - this.pos >= TAR_CHUNK / 16 ? this.out.subarray(this.pos) : this.take();
      this.pos = 0;
    }
    yield head;
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
 * file's end. A plain function called in a loop, not a generator per file:
 * thousands of small files made that 5% slower.
 */
function readHostFile(c: Chunks, e: TarEntry, file: { fd: number; read: number }): boolean {
  for (;;) {
    const n = readSync(file.fd, c.out, c.pos, Math.min(e.size - file.read + 1, c.out.length - c.pos), null);
    if (n === 0) break;
    if (file.read + n > e.size) throw grew(e);
    e.onData?.(c.out.subarray(c.pos, c.pos + n), file.read);
    file.read += n;
    c.advance(n);
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
    c.put(entryHeader(e));
    if (e.type === 'file') {
      if (e.data) {
        if (e.data.length !== e.size) throw changed(e, e.data.length);
        c.put(e.data);
      } else if (e.stream) {
        yield* c.flush('continue');
        yield* passThrough(e as TarEntry & { stream: () => AsyncIterable<Buffer> });
      } else if (e.hostPath) {
        const file = { fd: openSync(e.hostPath, 'r'), read: 0 };
        try {
          while (readHostFile(c, e, file)) yield* c.flush();
        } finally {
          closeSync(file.fd);
        }
      } else if (e.size > 0) {
        throw new Error(`tar entry ${e.name} has size ${e.size} but no data`);
      }
      c.zeros((BLOCK - (e.size % BLOCK)) % BLOCK);
    }
    if (c.ready.length > 0) yield* c.flush();
  }
  if (opts.end !== false) c.zeros(END_OF_ARCHIVE.length);
  yield* c.flush('end');
}

// Minimal tar reader over an uncompressed file: yields each entry's header
// fields (pax and GNU long names applied) and the offset of its data, so that
// callers can read contents later without holding them in memory.
//
// Archives may be hostile: every header's checksum is verified, every number
// is checked (octal digits, pax decimals, at most 2^53), links, devices,
// directories and fifos have no data whatever their size field says (as Go
// and Python read them), an empty pax value keeps the header's field (as Go
// reads it), every member must fit in the file as it is on disk,
// pax and long-name records are capped, and whole members are read into
// memory only up to a limit. A violation is an OpError (archive_format)
// naming the archive and the member, or where the bad header is: never
// quoting the file's bytes (a header field's, a pax value's), which may be
// anything, a secret included, when the file is not a tar at all.
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { TarEntryType, TarFields } from './tar-header.js';
import { OpError } from '../errors.js';

/** pax headers and GNU long names/links bigger than this are refused. */
export const TAR_META_MAX = 1024 * 1024;
/** Default limit of readTarMember (JSON members: manifest.json, configs, index.json). */
export const TAR_MEMBER_MAX = 16 * 1024 * 1024;

const FORMAT_HINT =
  'The archive is damaged, cut short or not made by a tar tool: make it again (`docker save`, `nix build`, `skopeo copy`).';

function formatError(path: string, problem: string): OpError {
  return new OpError('archive_format', `${path}: ${problem}`, FORMAT_HINT);
}

export interface TarReadEntry extends TarFields {
  type: TarEntryType | 'other';
  /** '' when the entry names none. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Byte offset of the entry's data in the file. */
  offset: number;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** Types whose size field counts no data, as Go's archive/tar and Python's tarfile read them: links, devices, directories, fifos. */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

function str(buf: Buffer, off: number, len: number): string {
  const slice = buf.subarray(off, off + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

/** A numeric header field (octal, or GNU base-256); anything else is an error naming the field and the header's offset. */
function num(buf: Buffer, off: number, len: number, field: string, path: string, at: number): number {
  const where = `the ${field} field of the tar header at byte ${at}`;
  if ((buf[off]! & 0x80) !== 0) {
    // base-256 (GNU) encoding; a negative one (0xff) is refused
    if (buf[off] === 0xff) throw formatError(path, `${where} is negative`);
    let v = buf[off]! & 0x7f;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + buf[i]!;
    if (!Number.isSafeInteger(v)) throw formatError(path, `${where} is larger than 2^53`);
    return v;
  }
  const s = str(buf, off, len).replace(/^ +| +$/g, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw formatError(path, `${where} is not an octal number`);
  return parseInt(s, 8);
}

/** The pax record of one key for the entry being read (its own header's). */
type PaxLookup = (key: string) => string | undefined;

/**
 * An entry's pax value for a key. An empty value keeps the header's field, as Go's archive/tar (the engine's
 * unpacking) reads it.
 */
function paxLookup(pax: Map<string, string>): PaxLookup {
  return (key) => {
    const v = pax.get(key);
    return v === '' ? undefined : v;
  };
}

/** A pax decimal record (size, uid, gid). */
function paxInt(p: PaxLookup, key: string, fallback: number, path: string, name: string): number {
  const v = p(key);
  if (v === undefined) return fallback;
  const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw formatError(path, `pax ${key} of ${JSON.stringify(name)} is not a whole number below 2^53`);
  return n;
}

/** The records of a pax header, each cut by its byte length before it is decoded (a value need not be UTF-8). */
function parsePax(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let rest = body;
  while (rest.length > 0) {
    const sp = rest.indexOf(0x20);
    if (sp === -1) break;
    const len = parseInt(rest.subarray(0, sp).toString('ascii'), 10);
    if (!(len > sp + 1) || len > rest.length) break;
    const rec = rest.subarray(sp + 1, len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    rest = rest.subarray(len);
  }
  return out;
}

/**
 * The header at byte `at` must hold the checksum of its bytes (the field
 * counted as spaces): summed as unsigned bytes (POSIX), or as signed ones
 * (old tars; GNU tar, Go and Python accept both).
 */
function checkHeaderSum(h: Buffer, at: number, path: string): void {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b < 0x80 ? b : b - 0x100;
  }
  const field = str(h, 148, 8).trim();
  const said = /^[0-7]{1,8}$/.test(field) ? parseInt(field, 8) : NaN;
  // Neither the header's name nor its checksum field is quoted: when the file is not a tar, they are its contents.
  if (said !== unsigned && said !== signed)
    throw formatError(
      path,
      at === 0
        ? 'not a tar archive: its first 512 bytes are not a tar header (their checksum does not match)'
        : `the tar header at byte ${at} is damaged: its checksum does not match its bytes (or the archive is not a tar file there)`,
    );
}

async function readExact(fh: FileHandle, pos: number, len: number): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === len ? buf : buf.subarray(0, got);
}

/** Iterate over the entries of an uncompressed tar file. */
export async function* readTarFile(path: string): AsyncIterable<TarReadEntry> {
  const fh = await open(path, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    /** The data at `pos` of `size` bytes must be in the file. */
    const fits = (pos: number, size: number, name: string) => {
      if (pos + size > fileSize)
        throw formatError(
          path,
          `member ${JSON.stringify(name)} claims ${size} bytes, but the archive has only ${Math.max(0, fileSize - pos)} after its header`,
        );
    };
    let pos = 0;
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const h = await readExact(fh, pos, 512);
      if (h.length < 512 || h.every((b) => b === 0)) return;
      checkHeaderSum(h, pos, path);
      const at = pos;
      pos += 512;
      const rawName = str(h, 0, 100);
      const size0 = num(h, 124, 12, 'size', path, at);
      const flag = String.fromCharCode(h[156]!);
      const dataSize = HEADER_ONLY.has(flag) ? 0 : size0;
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size0 > TAR_META_MAX)
          throw formatError(
            path,
            `a pax or long-name record of ${size0} bytes (more than ${TAR_META_MAX}) before ${JSON.stringify(rawName)}`,
          );
        fits(pos, size0, rawName);
        // A global header ('g') is skipped, unread: the engine's unpacking (moby's, over Go's archive/tar) applies
        // none of its records (dockerd 20.10: a layer's global mtime and gid left its file's own, `docker export`).
        if (flag !== 'g') {
          const body = await readExact(fh, pos, size0);
          if (flag === 'x') pax = parsePax(body);
          else if (flag === 'L') longName = body.toString('utf8').replace(/\0+$/, '');
          else longLink = body.toString('utf8').replace(/\0+$/, '');
        }
        pos += Math.ceil(dataSize / 512) * 512;
        continue;
      }
      const p = paxLookup(pax);
      const prefix = str(h, 345, 155);
      let name = longName ?? p('path') ?? (prefix ? `${prefix}/${rawName}` : rawName);
      name = name
        .replace(/^(\.\/)+/, '')
        .replace(/^\/+/, '')
        .replace(/\/+$/, '');
      const size = paxInt(p, 'size', dataSize, path, name);
      const entry: TarReadEntry = {
        name,
        type: TYPES[flag] ?? 'other',
        mode: num(h, 100, 8, 'mode', path, at) & 0o7777,
        uid: paxInt(p, 'uid', num(h, 108, 8, 'uid', path, at), path, name),
        gid: paxInt(p, 'gid', num(h, 116, 8, 'gid', path, at), path, name),
        uname: p('uname') ?? str(h, 265, 32),
        gname: p('gname') ?? str(h, 297, 32),
        mtime: paxMtime(p, num(h, 136, 12, 'mtime', path, at)),
        size: HEADER_ONLY.has(flag) ? 0 : size,
        linkname: longLink ?? p('linkpath') ?? str(h, 157, 100),
        devmajor: num(h, 329, 8, 'devmajor', path, at),
        devminor: num(h, 337, 8, 'devminor', path, at),
        offset: pos,
      };
      fits(pos, entry.size, name);
      pax = new Map();
      longName = undefined;
      longLink = undefined;
      pos = pos + Math.ceil(entry.size / 512) * 512;
      if (entry.name === '' && entry.type === 'dir') continue;
      yield entry;
    }
  } finally {
    await fh.close();
  }
}

/** pax mtime: seconds, possibly with a fraction; a value that is not one keeps the header's. */
function paxMtime(p: PaxLookup, fallback: number): number {
  const v = p('mtime');
  const n = v !== undefined && /^-?\d{1,16}(\.\d*)?$/.test(v) ? Math.floor(Number(v)) : NaN;
  return Number.isSafeInteger(n) ? n : fallback;
}

/** Read a whole entry's data (for small members such as JSON files), at most `max` bytes. */
export async function readTarMember(path: string, entry: TarReadEntry, max = TAR_MEMBER_MAX): Promise<Buffer> {
  if (entry.size > max)
    throw formatError(path, `member ${JSON.stringify(entry.name)} is ${entry.size} bytes, more than the ${max} accepted for it`);
  const fh = await open(path, 'r');
  try {
    const data = await readExact(fh, entry.offset, entry.size);
    if (data.length !== entry.size)
      throw formatError(path, `member ${JSON.stringify(entry.name)} is cut short (${data.length} of ${entry.size} bytes)`);
    return data;
  } finally {
    await fh.close();
  }
}

/** Stream part of a file (an entry's data). */
export async function* readRange(path: string, offset: number, size: number): AsyncIterable<Buffer> {
  if (size === 0) return;
  for await (const chunk of createReadStream(path, { start: offset, end: offset + size - 1 })) yield chunk as Buffer;
}

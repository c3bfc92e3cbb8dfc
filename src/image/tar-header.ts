// Tar headers: ustar fields, pax records only when a field does not fit.
// Every byte comes from the entry fields. Most entries of a layer share their
// owner and mtime: their one-block header is written in place (writeHeaderAt)
// from a block holding those shared fields, the same bytes entryHeader makes.

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** The ustar fields of an entry, written (TarEntry) or read (tar-reader.ts's TarReadEntry) alike. */
export interface TarFields {
  /** Path inside the archive, relative, "/"-separated, without a trailing slash. */
  name: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Seconds since the epoch. */
  mtime: number;
  /** Bytes of data (0 for what has none: directories, links). */
  size: number;
}

export interface TarEntry extends TarFields {
  type: TarEntryType;
  /** Nanoseconds past `mtime` (0 to 999,999,999): when set and not 0, a pax mtime record keeps them. */
  mtimeNsec?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Contents of a file entry: bytes, a host file, or a producer. */
  data?: Buffer;
  hostPath?: string;
  stream?: () => AsyncIterable<Buffer>;
  /**
   * Called with each piece of a `hostPath` file's contents as it is read, and
   * where in the file the piece starts (e.g. to scan it while it is sent),
   * and whether it ends the file (as its size says). The piece is a view of
   * the output chunk: copy what must outlive the call.
   */
  onData?: (chunk: Buffer, offset: number, last: boolean) => void;
}

/**
 * An entry with every field, in one order: all entries made this way share
 * one object shape, so the header and tar code V8 optimises for them is not
 * thrown away when an entry of another shape comes (the outer archive's
 * files among a layer's, a directory among files).
 */
export function tarEntry(
  name: string,
  type: TarEntryType,
  mode: number,
  size: number,
  owner: { uid: number; gid: number; uname: string; gname: string },
  mtime: number,
): TarEntry {
  return {
    name,
    type,
    mode,
    uid: owner.uid,
    gid: owner.gid,
    uname: owner.uname,
    gname: owner.gname,
    mtime,
    mtimeNsec: undefined,
    size,
    linkname: undefined,
    devmajor: undefined,
    devminor: undefined,
    data: undefined,
    hostPath: undefined,
    stream: undefined,
    onData: undefined,
  };
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

export const BLOCK = 512;
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

/** `value` as `width - 1` octal digits and a NUL at h[at]; returns the digits' byte sum. */
function octalAt(h: Buffer, at: number, value: number, width: number): number {
  let sum = 0;
  h[at + width - 1] = 0;
  for (let i = width - 2; i >= 0; i--) {
    const digit = value % 8;
    h[at + i] = 0x30 + digit;
    sum += 0x30 + digit;
    value = (value - digit) / 8;
  }
  return sum;
}

/** Octal field: digits padded with zeros, then NUL. Returns false if it does not fit. */
function writeOctal(buf: Buffer, value: number, offset: number, length: number): boolean {
  const v = Math.floor(value);
  if (!(v >= 0 && v < 8 ** (length - 1))) return false;
  octalAt(buf, offset, v, length);
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

/** The sum of h[from..to) (header checksums count bytes). */
function byteSum(h: Buffer, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += h[i]!;
  return sum;
}

/** The checksum field of the header at h[at]: six octal digits, NUL, space. */
function writeChecksum(h: Buffer, at: number, sum: number): void {
  octalAt(h, at + 148, sum, 7);
  h[at + 155] = 0x20;
}

/** Fills in the checksum of header `h`, its field counted as spaces. */
function checksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  writeChecksum(h, 0, byteSum(h, 0, BLOCK));
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

/** Whether e's header is one ustar block (no pax record): a name that fits with room for a directory's "/", plain ids, sizes and times. */
function isSimple(e: TarEntry): boolean {
  return (
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
    e.size <= MAX_OCTAL_11
  );
}

/** entryHeader(e).length, without making the header in the common case (one block, no pax record). */
export function headerSize(e: TarEntry): number {
  return isSimple(e) ? BLOCK : entryHeader(e).length;
}

/** The block every simple header of one owner and mtime starts from: the shared fields set, the rest zero, the checksum field spaces. */
interface Template {
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  block: Buffer;
  /** The sum of its bytes (the checksum's start). */
  sum: number;
}

let template: Template | undefined;

function templateFor(e: TarEntry): Template {
  const t = template;
  if (t && t.uid === e.uid && t.gid === e.gid && t.mtime === e.mtime && t.uname === e.uname && t.gname === e.gname) return t;
  const block = rawHeader(
    { ...e, name: '', type: 'fifo', mode: 0, size: 0, linkname: '', devmajor: 0, devminor: 0 },
    '',
    '0',
    0,
    new Map(),
  );
  block.fill(0, 100, 108); // mode
  block.fill(0, 124, 136); // size
  block.fill(0x20, 148, 156); // checksum, counted as spaces
  block[156] = 0; // type
  template = { uid: e.uid, gid: e.gid, uname: e.uname, gname: e.gname, mtime: e.mtime, block, sum: byteSum(block, 0, BLOCK) };
  return template;
}

/** Writes `text` (UTF-8, at most `max` bytes, known to fit) at h[at]; returns its byte sum. */
function textAt(h: Buffer, at: number, text: string, max: number): number {
  if (text === '') return 0;
  const n = h.write(text, at, max, 'utf8');
  return byteSum(h, at, at + n);
}

/**
 * Writes e's header in place at h[at] (BLOCK bytes there) when it is one
 * ustar block of a file, directory, symlink, hard link or fifo: the same
 * bytes as entryHeader(e), without a buffer per header. False (nothing
 * written) otherwise.
 */
export function writeHeaderAt(h: Buffer, at: number, e: TarEntry): boolean {
  if (e.type === 'char' || e.type === 'block' || !isSimple(e)) return false;
  const t = templateFor(e);
  t.block.copy(h, at);
  let sum = t.sum;
  sum += textAt(h, at, e.name, 100);
  if (e.type === 'dir') {
    h[at + Buffer.byteLength(e.name)] = 0x2f;
    sum += 0x2f;
  }
  sum += octalAt(h, at + 100, e.mode & 0o7777, 8);
  sum += octalAt(h, at + 124, e.type === 'file' ? e.size : 0, 12);
  const type = TYPEFLAG[e.type].charCodeAt(0);
  h[at + 156] = type;
  sum += type;
  if (e.linkname) sum += textAt(h, at + 157, e.linkname, 100);
  writeChecksum(h, at, sum);
  return true;
}

// The one regular file of the tar that GET /containers/{id}/archive answers
// for a file, taken straight out of the socket's chunks: push() returns the
// file's bytes in each chunk as slices (no per-entry stream, no copy);
// headers, pax records and GNU long names are read and skipped. Sizes are
// bounded by what a header can say, and a file cut short is an error.
const BLOCK = 512;
/** pax records larger than this are not a docker archive's. */
const PAX_MAX = 1 << 20;

type Mode = 'header' | 'pax' | 'skip' | 'file' | 'done';

export class OneFileTar {
  /** A regular file was found; `size` is its size. */
  found = false;
  size = 0;
  /** The first entry (pax headers aside) was that file: the archive is of a file, not of a directory. */
  fileFirst: boolean | null = null;
  private mode: Mode = 'header';
  private header: Buffer[] = [];
  private headerLen = 0;
  private left = 0;
  private pad = 0;
  private pax: Buffer[] = [];
  private paxSize: number | null = null;

  /** The file's bytes in `chunk`, in order. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < chunk.length && this.mode !== 'done') {
      const n = this.mode === 'header' ? Math.min(BLOCK - this.headerLen, chunk.length - at) : Math.min(this.left, chunk.length - at);
      const part = chunk.subarray(at, at + n);
      at += n;
      if (this.mode === 'header') this.addHeader(part);
      else {
        this.left -= n;
        if (this.mode === 'file') out.push(part);
        if (this.mode === 'pax') this.pax.push(part);
        if (this.left === 0) this.endOfEntry();
      }
    }
    return out;
  }

  /** The archive ended: the file must be whole. */
  finish(): void {
    if (this.mode === 'file' && this.left > 0) throw new Error(`the archive ended ${this.left} bytes before the end of the file`);
  }

  private addHeader(part: Buffer): void {
    this.header.push(part);
    this.headerLen += part.length;
    if (this.headerLen < BLOCK) return;
    const h = Buffer.concat(this.header);
    this.header = [];
    this.headerLen = 0;
    if (h.every((b) => b === 0)) return this.to('done', 0);
    const size = this.paxSize ?? headerSize(h);
    this.paxSize = null;
    const type = String.fromCharCode(h[156]!);
    if (type !== 'x' && type !== 'g') this.fileFirst ??= type === '0' || type === '\0';
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === 'x') {
      if (size > PAX_MAX) throw new Error(`a pax header of ${size} bytes`);
      return this.to('pax', size);
    }
    if ((type === '0' || type === '\0') && !this.found) {
      this.found = true;
      this.size = size;
      return this.to('file', size);
    }
    this.to('skip', size + this.pad); // a directory, a long name, a link: not the file
    this.pad = 0;
  }

  private endOfEntry(): void {
    if (this.mode === 'pax') {
      this.paxSize = paxRecordSize(Buffer.concat(this.pax));
      this.pax = [];
    }
    if (this.mode === 'file') return this.to('done', 0); // the one file is whole: the rest does not matter
    const pad = this.mode === 'skip' ? 0 : this.pad;
    this.pad = 0;
    this.to(pad > 0 ? 'skip' : 'header', pad);
  }

  private to(mode: Mode, left: number): void {
    this.mode = left === 0 && (mode === 'skip' || mode === 'pax') ? 'header' : mode;
    this.left = left;
    if (mode === 'file' && left === 0) this.mode = 'done';
    if (mode === 'pax' && left === 0) this.paxSize = null;
  }
}

/** A header's size field: octal, or base-256 when its first byte has the high bit (sizes past 8 GiB). */
function headerSize(h: Buffer): number {
  if ((h[124]! & 0x80) !== 0) {
    let n = 0;
    for (let i = 125; i < 136; i++) n = n * 256 + h[i]!;
    if (!Number.isSafeInteger(n)) throw new Error('a tar size beyond what can be read');
    return n;
  }
  const text = h
    .subarray(124, 136)
    .toString('ascii')
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]*$/.test(text)) throw new Error(`a tar header with a size that is not octal (${JSON.stringify(text)})`);
  return text === '' ? 0 : parseInt(text, 8);
}

function paxRecordSize(data: Buffer): number | null {
  const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(data.toString('utf8'));
  if (!m) return null;
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n)) throw new Error('a pax size beyond what can be read');
  return n;
}

// Finds the headlines in build output, by upstream's rule: a line that begins
// with ">>>" or with ESC[7m">>>" (Buildroot's package banners). Works on raw
// bytes, so headlines in the middle of a chunk are never missed. Every
// headline contains ">>>", so a chunk is searched for that with one native
// indexOf and only its matches are checked for a line start before them;
// ordinary lines cost nothing of their own (the exec stream moves ~10 million
// of them per GiB). A headline keeps at most MAX_HEADLINE bytes, so a 50 MB
// line costs neither memory nor copies.
const NL = 0x0a;
const PLAIN = Buffer.from('>>>');
const INVERSE = Buffer.from('\x1b[7m>>>');
const INVERSE_ON = '\x1b[7m';
const ON = INVERSE.length - PLAIN.length; // bytes of ESC[7m
/** Longest headline kept; the rest of a longer line is dropped. */
export const MAX_HEADLINE = 512;

export class HeadlineScanner {
  /** In a headline: keep its bytes up to the newline. */
  private collecting = false;
  /** The next byte begins a line (false: in the middle of a line that is not a headline). */
  private atStart = true;
  /** The first bytes of a line still undecided at a chunk's end (a proper prefix of ESC[7m>>> or >>>). */
  private head: Buffer | null = null;
  private parts: Buffer[] = [];
  private len = 0;

  constructor(private readonly onHeadline: (text: string) => void) {}

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    if (this.collecting) {
      i = this.collect(chunk, 0);
      if (i < 0) return;
      this.atStart = true; // chunk[i] follows the headline's newline
    } else if (this.head) {
      const c = this.classify(chunk, 0);
      if (c < 0) {
        this.head = Buffer.concat([this.head, chunk]);
        return;
      }
      const head = this.head;
      this.head = null;
      this.atStart = false; // in this line, whatever it is
      if (c === 1) {
        this.keep(head);
        i = this.collect(chunk, 0);
        if (i < 0) return;
        this.atStart = true;
      }
    }
    for (let from = i; from < n;) {
      const p = chunk.indexOf(PLAIN, from);
      if (p < 0) break;
      const start = this.lineStartAt(chunk, p, i)
        ? p
        : p >= i + ON && this.isInverseOn(chunk, p - ON) && this.lineStartAt(chunk, p - ON, i)
          ? p - ON
          : -1;
      if (start < 0) {
        from = p + 1;
        continue;
      }
      from = this.collect(chunk, start);
      if (from < 0) return;
    }
    this.holdLineEnd(chunk, i);
  }

  /** Call at end of output: a last line without a newline still counts. */
  flush(): void {
    if (this.collecting) this.emit();
    this.collecting = false;
    this.head = null;
    this.atStart = true;
  }

  /** Whether chunk[pos] begins a line: after a newline, or at `base` when the line began there. */
  private lineStartAt(chunk: Buffer, pos: number, base: number): boolean {
    return pos > base ? chunk[pos - 1] === NL : pos === base && this.atStart;
  }

  private isInverseOn(chunk: Buffer, at: number): boolean {
    for (let k = 0; k < ON; k++) if (chunk[at + k] !== INVERSE[k]) return false;
    return true;
  }

  /** Keeps the headline's bytes from `from` up to its newline: the index after it, or -1 when the line goes on in the next chunk. */
  private collect(chunk: Buffer, from: number): number {
    const nl = chunk.indexOf(NL, from);
    this.keep(chunk.subarray(from, nl < 0 ? chunk.length : nl));
    if (nl < 0) {
      this.collecting = true;
      return -1;
    }
    this.collecting = false;
    this.emit();
    return nl + 1;
  }

  /** At a chunk's end (outside a headline): where the next chunk begins, and the start of a line held when it may still become a headline. */
  private holdLineEnd(chunk: Buffer, base: number): void {
    const n = chunk.length;
    const nl = chunk.lastIndexOf(NL);
    let start: number;
    if (nl >= base) start = nl + 1;
    else if (this.atStart && base < n) start = base;
    else return; // no line began in this chunk (or nothing after base): the state stands
    this.atStart = start === n;
    if (start === n || n - start >= INVERSE.length) return;
    const rest = chunk.subarray(start);
    if (isPrefixOf(rest, PLAIN) || isPrefixOf(rest, INVERSE)) this.head = Buffer.from(rest);
  }

  /** 1: a headline starts at chunk[i] (after the held head bytes); 0: it does not; -1: not enough bytes yet. */
  private classify(chunk: Buffer, i: number): number {
    const h = this.head;
    const hl = h ? h.length : 0;
    const avail = hl + chunk.length - i;
    const at = (k: number): number => (k < hl ? h![k]! : chunk[i + k - hl]!);
    const pattern = at(0) === PLAIN[0] ? PLAIN : at(0) === INVERSE[0] ? INVERSE : null;
    if (!pattern) return 0;
    for (let k = 1; k < pattern.length; k++) {
      if (k >= avail) return -1;
      if (at(k) !== pattern[k]) return 0;
    }
    return 1;
  }

  private keep(part: Buffer): void {
    if (this.len >= MAX_HEADLINE || part.length === 0) return;
    const piece = part.length > MAX_HEADLINE - this.len ? part.subarray(0, MAX_HEADLINE - this.len) : part;
    this.parts.push(Buffer.from(piece));
    this.len += piece.length;
  }

  private emit(): void {
    const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.len);
    this.parts = [];
    this.len = 0;
    const headline = headlineOf(line);
    if (headline !== null) this.onHeadline(headline);
  }
}

/** Whether `bytes` (shorter than `pattern`) are its first bytes. */
function isPrefixOf(bytes: Buffer, pattern: Buffer): boolean {
  return bytes.length < pattern.length && pattern.compare(bytes, 0, bytes.length, 0, bytes.length) === 0;
}

/** The headline text of one line (without its newline), or null when it is not one. */
export function headlineOf(line: Buffer): string | null {
  let text: string;
  if (line.subarray(0, PLAIN.length).equals(PLAIN)) {
    text = line.toString('utf8');
  } else if (line.subarray(0, INVERSE.length).equals(INVERSE)) {
    text = line.toString('utf8');
    // Cut at the next ESC[7m, as upstream does.
    const next = text.indexOf(INVERSE_ON, INVERSE_ON.length);
    if (next >= 0) text = text.slice(0, next);
    if (!text.includes('\x1b[0m') && !text.includes('\x1b[27m')) text += '\x1b[0m';
  } else {
    return null;
  }
  text = text.replace(/\r/g, '').trim();
  return text.length > 0 ? text : null;
}

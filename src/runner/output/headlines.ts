// Finds the headlines in build output, by upstream's rule: a line that begins
// with ">>>" or with ESC[7m">>>" (Buildroot's package banners). Works on raw
// bytes line by line, so headlines in the middle of a chunk are never missed.
// Only the first bytes of a line are looked at: other lines are skipped to
// their newline with indexOf, and a headline keeps at most MAX_HEADLINE
// bytes, so a 50 MB line costs neither memory nor copies.
const NL = 0x0a;
const PLAIN = Buffer.from('>>>');
const INVERSE = Buffer.from('\x1b[7m>>>');
const INVERSE_ON = '\x1b[7m';
/** Longest headline kept; the rest of a longer line is dropped. */
export const MAX_HEADLINE = 512;

const enum State {
  /** At the start of a line. */
  Start,
  /** In a line that is not a headline: skip to its newline. */
  Skip,
  /** In a headline: keep its bytes up to the newline. */
  Collect,
}

export class HeadlineScanner {
  private state = State.Start;
  /** The first bytes of a line still undecided at a chunk's end (a prefix of ESC[7m>>>). */
  private head: Buffer | null = null;
  private parts: Buffer[] = [];
  private len = 0;

  constructor(private readonly onHeadline: (text: string) => void) {}

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.state === State.Skip) {
        const nl = chunk.indexOf(NL, i);
        if (nl < 0) return;
        i = nl + 1;
        this.state = State.Start;
      } else if (this.state === State.Collect) {
        const nl = chunk.indexOf(NL, i);
        this.keep(chunk.subarray(i, nl < 0 ? n : nl));
        if (nl < 0) return;
        this.emit();
        i = nl + 1;
        this.state = State.Start;
      } else {
        const c = this.classify(chunk, i);
        if (c < 0) {
          // Every byte left matches the start of a headline: decide with the next chunk.
          this.head = this.head ? Buffer.concat([this.head, chunk.subarray(i)]) : Buffer.from(chunk.subarray(i));
          return;
        }
        if (c === 1) {
          this.state = State.Collect;
          if (this.head) this.keep(this.head);
        } else {
          this.state = State.Skip;
        }
        this.head = null;
      }
    }
  }

  /** Call at end of output: a last line without a newline still counts. */
  flush(): void {
    if (this.state === State.Collect) this.emit();
    this.head = null;
    this.state = State.Start;
  }

  /** 1: a headline starts at chunk[i] (after any held head bytes); 0: it does not; -1: not enough bytes yet. */
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

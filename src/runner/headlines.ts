// Finds the headlines in build output, by upstream's rule: a line that begins
// with ">>>" or with ESC[7m">>>" (Buildroot's package banners). Works on raw
// bytes line by line, so headlines in the middle of a chunk are never missed,
// and keeps at most a short prefix of the current line, so a 50 MB line
// costs no memory.
const NL = 0x0a;
const PLAIN = Buffer.from('>>>');
const INVERSE = Buffer.from('\x1b[7m>>>');
const INVERSE_ON = '\x1b[7m';
/** Longest headline kept; the rest of a longer line is dropped. */
export const MAX_HEADLINE = 512;

export class HeadlineScanner {
  private prefix: Buffer[] = [];
  private prefixLen = 0;

  constructor(private readonly onHeadline: (text: string) => void) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl < 0) {
        this.keep(chunk.subarray(start));
        return;
      }
      this.keep(chunk.subarray(start, nl));
      this.endLine();
      start = nl + 1;
    }
  }

  /** Call at end of output: a last line without a newline still counts. */
  flush(): void {
    if (this.prefixLen > 0) this.endLine();
  }

  private keep(part: Buffer): void {
    if (this.prefixLen >= MAX_HEADLINE || part.length === 0) return;
    const room = MAX_HEADLINE - this.prefixLen;
    const piece = part.length > room ? part.subarray(0, room) : part;
    this.prefix.push(Buffer.from(piece));
    this.prefixLen += piece.length;
  }

  private endLine(): void {
    const line = this.prefix.length === 1 ? this.prefix[0]! : Buffer.concat(this.prefix, this.prefixLen);
    this.prefix = [];
    this.prefixLen = 0;
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

// The one exec's output (exec-driver.ts) cut into steps: bytes go to the
// current step's sink until the driver's end marker, "<token> <index>
// <status>\n", which is taken out of the stream and reported; what follows
// goes to the sink the report hands back (the next step's, once the
// previous one is all written, so that build.log keeps step order). The
// marker may be split across chunks: a chunk's tail that could begin it is
// held back until the next chunk says.
import type { ChunkSink } from '../../../chunk-sink.js';

/** Called at each end marker (index -1: the driver's checks failed, no step ran); resolves to the sink for what follows. */
export type StepEnded = (index: number, status: number) => Promise<ChunkSink>;

/** Called with a file the driver handed over after its steps ("<token> file <size> <sha256 or ->" and the bytes). */
export type FileCarried = (data: Buffer, sha256: string | null) => void;

/** The largest file the driver may hand over in the stream (exec-driver.ts carries only small artifacts). */
export const MAX_CARRIED = 64 << 20;

type Marker = { kind: 'end'; index: number; status: number } | { kind: 'file'; size: number; sha256: string | null } | { kind: 'go' };

const LF = 0x0a;
/** The end marker's line after the token: " <index> <status>" (bounded: the driver writes a few bytes). */
const MAX_MARKER_TAIL = 128;

export class StepSplitter implements ChunkSink {
  /** The driver said it runs ("<token> go"): an end of the stream before its own end is a cut stream. */
  started = false;
  private held: Buffer | null = null;
  /** Collecting the marker's line after the token (up to its LF). */
  private inMarker = false;
  private markerTail = '';
  /** A carried file being received: the bytes after its marker are its content, not output. */
  private capture: { remaining: number; chunks: Buffer[]; sha256: string | null } | null = null;

  constructor(
    private readonly token: Buffer,
    private sink: ChunkSink,
    private readonly ended: StepEnded,
    private readonly carried: FileCarried = () => {},
  ) {}

  /** Passes output on in one put while no end marker is met; at a marker, waits for the sink and the next step's. Throws at a damaged marker. */
  put(bufs: Buffer[]): Promise<void> | undefined {
    const out: Buffer[] = [];
    for (let k = 0; k < bufs.length; k++) {
      let b = bufs[k]!;
      if (this.capture) b = this.fill(this.capture, b);
      if (b.length === 0) continue;
      if (this.held) {
        b = Buffer.concat([this.held, b]);
        this.held = null;
      }
      const marker = this.scan(b);
      if (marker.out.length) out.push(marker.out);
      if (marker.ended?.kind === 'go') {
        this.started = true;
        bufs = [...bufs.slice(0, k + 1), marker.rest, ...bufs.slice(k + 1)];
      } else if (marker.ended?.kind === 'file') {
        this.capture = { remaining: marker.ended.size, chunks: [], sha256: marker.ended.sha256 };
        if (marker.ended.size === 0) this.fill(this.capture, EMPTY);
        bufs = [...bufs.slice(0, k + 1), marker.rest, ...bufs.slice(k + 1)];
      } else if (marker.ended) {
        const wait = out.length ? this.sink.put(out) : undefined;
        const rest = [...(marker.rest.length ? [marker.rest] : []), ...bufs.slice(k + 1)];
        return this.afterMarker(wait, marker.ended, rest);
      }
    }
    return out.length ? this.sink.put(out) : undefined;
  }

  /** The end of the stream: held bytes that turned out not to be a marker are output; an unfinished marker (or carried file) is the driver's, dropped. */
  async finish(): Promise<void> {
    const held = this.held && !this.inMarker ? this.held : null;
    this.held = null;
    this.capture = null;
    if (held) await this.sink.put([held]);
  }

  /** Takes what `b` holds of the carried file; returns what follows it. */
  private fill(capture: NonNullable<StepSplitter['capture']>, b: Buffer): Buffer {
    const n = Math.min(capture.remaining, b.length);
    if (n > 0) capture.chunks.push(Buffer.from(b.subarray(0, n)));
    capture.remaining -= n;
    if (capture.remaining === 0) {
      this.capture = null;
      this.carried(Buffer.concat(capture.chunks), capture.sha256);
    }
    return b.subarray(n);
  }

  private async afterMarker(wait: Promise<void> | undefined, ended: { index: number; status: number }, rest: Buffer[]): Promise<void> {
    await wait;
    this.sink = await this.ended(ended.index, ended.status);
    if (rest.length) await this.put(rest);
  }

  /** One buffer: the output before a marker (or all of it), and the marker with what follows it, if one ends here. */
  private scan(b: Buffer): { out: Buffer; ended: Marker | null; rest: Buffer } {
    let pos = 0;
    if (!this.inMarker) {
      const at = b.indexOf(this.token);
      if (at < 0) {
        const keep = this.prefixTail(b);
        if (keep) this.held = Buffer.from(b.subarray(b.length - keep));
        return { out: b.subarray(0, b.length - keep), ended: null, rest: EMPTY };
      }
      this.inMarker = true;
      this.markerTail = '';
      pos = at + this.token.length;
    }
    const out = this.inMarker && pos > 0 ? b.subarray(0, pos - this.token.length) : EMPTY;
    const lf = b.indexOf(LF, pos);
    const line = b.toString('latin1', pos, lf < 0 ? b.length : lf);
    this.markerTail += line;
    if (this.markerTail.length > MAX_MARKER_TAIL) throw new Error('the step driver wrote a damaged end marker');
    if (lf < 0) return { out, ended: null, rest: EMPTY };
    this.inMarker = false;
    return { out, ended: parseMarker(this.markerTail), rest: b.subarray(lf + 1) };
  }

  /** How many bytes at the end of `b` could be the start of the token (0 nearly always). */
  private prefixTail(b: Buffer): number {
    const from = Math.max(0, b.length - this.token.length + 1);
    for (let at = b.indexOf(this.token[0]!, from); at >= 0; at = b.indexOf(this.token[0]!, at + 1)) {
      if (this.token.subarray(0, b.length - at).equals(b.subarray(at))) return b.length - at;
    }
    return 0;
  }
}

const EMPTY = Buffer.alloc(0);

/** The marker's line after the token: " go", " <index> <status>", " stale" or " file <size> <sha256 or ->". */
function parseMarker(tail: string): Marker {
  if (tail === ' go') return { kind: 'go' };
  const m = /^ (?:(\d+) (\d+)|stale|file (\d+) ([0-9a-f]{64}|-))$/.exec(tail);
  if (!m) throw new Error(`the step driver wrote a damaged end marker: ${JSON.stringify(tail)}`);
  if (m[3] !== undefined) {
    const size = Number(m[3]);
    if (size > MAX_CARRIED) throw new Error(`the step driver announced a file of ${size} bytes, more than it may carry`);
    return { kind: 'file', size, sha256: m[4] === '-' ? null : m[4]! };
  }
  return m[1] === undefined ? { kind: 'end', index: -1, status: 0 } : { kind: 'end', index: Number(m[1]), status: Number(m[2]) };
}

// The one exec's output (exec-driver.ts) cut into steps: bytes go to the
// current step's sink until the driver's end marker, "<token> <index>
// <status>\n", which is taken out of the stream and reported; what follows
// goes to the sink the report hands back (the next step's, once the
// previous one is all written, so that build.log keeps step order). The
// marker may be split across chunks: a chunk's tail that could begin it is
// held back until the next chunk says.
import { Writable } from 'node:stream';

/** Called at each end marker (index -1: the driver's checks failed, no step ran); resolves to the sink for what follows. */
export type StepEnded = (index: number, status: number) => Promise<Writable>;

const LF = 0x0a;
/** The end marker's line after the token: " <index> <status>" (bounded: the driver writes a few bytes). */
const MAX_MARKER_TAIL = 64;

export class StepSplitter extends Writable {
  private held: Buffer | null = null;
  /** Collecting the marker's line after the token (up to its LF). */
  private inMarker = false;
  private markerTail = '';

  constructor(
    private readonly token: Buffer,
    private sink: Writable,
    private readonly ended: StepEnded,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.guarded([chunk], cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.guarded(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  private guarded(bufs: Buffer[], cb: (err?: Error | null) => void): void {
    try {
      this.take(bufs, cb);
    } catch (err) {
      cb(err as Error);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    // Held bytes that turned out not to be a marker are output; an unfinished marker is the driver's, dropped.
    if (this.held && !this.inMarker) this.sink.write(this.held);
    this.held = null;
    cb();
  }

  /** Synchronous while no marker is met and the sink has room; otherwise waits, then goes on. */
  private take(bufs: Buffer[], cb: (err?: Error | null) => void): void {
    let room = true;
    this.sink.cork();
    for (let k = 0; k < bufs.length; k++) {
      let b = bufs[k]!;
      if (this.held) {
        b = Buffer.concat([this.held, b]);
        this.held = null;
      }
      const marker = this.scan(b);
      if (marker.out.length) room = this.sink.write(marker.out) && room;
      if (marker.ended) {
        this.sink.uncork();
        const rest = [...(marker.rest.length ? [marker.rest] : []), ...bufs.slice(k + 1)];
        this.afterMarker(room, marker.ended, rest, cb);
        return;
      }
    }
    this.sink.uncork();
    if (room) cb();
    else waitDrain(this.sink).then(() => cb(), cb);
  }

  private afterMarker(room: boolean, ended: { index: number; status: number }, rest: Buffer[], cb: (err?: Error | null) => void): void {
    (room ? Promise.resolve() : waitDrain(this.sink))
      .then(() => this.ended(ended.index, ended.status))
      .then((next) => {
        this.sink = next;
        if (rest.length) this.guarded(rest, cb);
        else cb();
      }, cb);
  }

  /** One buffer: the output before a marker (or all of it), and the marker with what follows it, if one ends here. */
  private scan(b: Buffer): { out: Buffer; ended: { index: number; status: number } | null; rest: Buffer } {
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
    const m = /^ (?:(\d+) (\d+)|stale)$/.exec(this.markerTail);
    if (!m) throw new Error(`the step driver wrote a damaged end marker: ${JSON.stringify(this.markerTail)}`);
    const ended = m[1] === undefined ? { index: -1, status: 0 } : { index: Number(m[1]), status: Number(m[2]) };
    return { out, ended, rest: b.subarray(lf + 1) };
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

function waitDrain(sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      sink.off('drain', done).off('error', done);
      if (err) reject(err);
      else resolve();
    };
    sink.on('drain', done).on('error', done);
  });
}

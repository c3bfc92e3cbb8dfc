// The body of an upload to the engine (PUT archive) made of chunks produced
// as it is sent, that hands each chunk back (`release`) once the connection
// has written it, so that its buffer can be filled again.
//
// dockerode's transport sends a body stream with `body.pipe(request)`:
// UploadBody's pipe writes each chunk itself, with a back-pressure of its own
// (a bound on the bytes not yet written, MAX_PENDING_BYTES), and releases the
// chunk in that write's callback, which the request calls once the socket
// (unix, tcp, TLS, or our ssh connection) has written those bytes, and ends
// as a stream does (stream.pipeline works). Read any other way, it is an
// ordinary stream of the same chunks, none of them released.
import { Readable, type Writable } from 'node:stream';

/**
 * Bytes written and not called back yet, at most (a chunk more may start
 * before the count is reached). The producer does not wait for "drain":
 * while the connection still holds some of what it was given, the pump lets
 * the event loop hand it to the socket and makes the next chunk, so that the
 * engine reads while the chunk is made instead of after (the image stream
 * into a local engine: upload 0.97 -> 0.84 s with 1 MiB chunks, medians of
 * 8 and 10 rounds, against waiting for "drain" after each chunk). The
 * bound also holds for a destination that never says "wait" (stdout
 * redirected to a file), which calls back on the next tick: a producer that
 * never waits on I/O would otherwise never reach that tick and hold the
 * whole stream.
 */
const MAX_PENDING_BYTES = 2 * 1024 * 1024;

/**
 * An engine that takes none of an upload for this long is taken for lost: a
 * link that died silently. Writes stop completing, and TCP keep-alive, which
 * only probes a connection with nothing unacknowledged, never fires.
 */
export const UPLOAD_STALL_MS = 60_000;

/**
 * Resolves true once `arm(go)` has called go, false when `dest` closes or
 * fails, or `body` is destroyed, first. `arm` returns what undoes it.
 */
function until(dest: Writable, body: Readable, arm: (go: () => void) => () => void): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      disarm();
      dest.off('close', onStop).off('error', onStop);
      body.off('close', onStop);
      resolve(ok);
    };
    const onStop = done(false);
    const disarm = arm(done(true));
    dest.once('close', onStop).once('error', onStop);
    body.once('close', onStop);
  });
}

/** A turn of the event loop (its I/O included), or false when `dest` closes or fails, or `body` is destroyed, first. */
function turn(dest: Writable, body: Readable): Promise<boolean> {
  return until(dest, body, (go) => {
    const t = setImmediate(go);
    return () => clearImmediate(t);
  });
}

export interface UploadBodyOptions {
  /**
   * Fail the destination (ETIMEDOUT) when it takes none of the pending bytes
   * for this long: over a link that died silently, writes stop completing
   * and nothing else would end the upload before the kernel's
   * retransmission timeout (~15 minutes). Unset: no bound (stdout).
   */
  stallMs?: number | undefined;
}

/** The error a destination that took nothing for `ms` is destroyed with. */
function stalledError(ms: number): NodeJS.ErrnoException {
  const err = new Error(`the engine took none of the upload for ${ms / 1000} s`) as NodeJS.ErrnoException;
  err.code = 'ETIMEDOUT';
  return err;
}

export class UploadBody extends Readable {
  private readonly chunks: AsyncIterator<Buffer>;
  private piped = false;

  constructor(
    chunks: AsyncIterable<Buffer>,
    private readonly release: (chunk: Buffer) => void,
    private options: UploadBodyOptions = {},
  ) {
    super();
    this.chunks = chunks[Symbol.asyncIterator]();
  }

  /** Fails the destination once it takes none of the body for `ms` (UploadBodyOptions.stallMs), unless a bound is set already. */
  boundStalls(ms: number): this {
    if (this.piped) throw new Error('boundStalls: the body is sent already');
    this.options = { stallMs: this.options.stallMs ?? ms };
    return this;
  }

  override _read(): void {
    this.chunks.next().then(
      (r) => this.push(r.done ? null : r.value),
      (err: Error) => this.destroy(err),
    );
  }

  override pipe<T extends NodeJS.WritableStream>(dest: T, options?: { end?: boolean }): T {
    if (this.piped) throw new Error('an upload body is sent once');
    this.piped = true;
    void this.pump(dest as unknown as Writable, options?.end !== false);
    return dest;
  }

  private async pump(dest: Writable, end: boolean): Promise<void> {
    const stopped = () => this.destroyed || dest.destroyed || dest.writableEnded;
    let pending = 0;
    let onWritten: (() => void) | undefined;
    const { stallMs } = this.options;
    let stalled = false;
    const oneWritten = () =>
      until(dest, this, (go) => {
        onWritten = go;
        const timer =
          stallMs === undefined
            ? undefined
            : setTimeout(() => {
                stalled = true;
                go();
              }, stallMs);
        return () => {
          onWritten = undefined;
          clearTimeout(timer);
        };
      });
    try {
      for (;;) {
        const r = await this.chunks.next();
        if (stopped()) return;
        if (r.done) break;
        const chunk = r.value;
        pending += chunk.length;
        dest.write(chunk, (err) => {
          pending -= chunk.length;
          if (!err) this.release(chunk);
          onWritten?.();
        });
        while (pending >= MAX_PENDING_BYTES) {
          if (!(await oneWritten())) return;
          if (stalled) {
            dest.destroy(stalledError(stallMs!));
            return;
          }
        }
        if (pending > 0 && !(await turn(dest, this))) return;
      }
      // As pipe does: dest ends after this stream's "end" (stream.pipeline
      // takes dest's close before that "end" for a premature close), and
      // not at all with { end: false }.
      if (end) this.once('end', () => dest.end());
      this.push(null);
      this.resume();
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    // Closes what the producer holds open (its files), once it gets back here.
    this.chunks.return?.().catch(() => {});
    cb(err);
  }
}

/**
 * `body` as the body of a request to the engine, with the stall bound
 * (UPLOAD_STALL_MS): an UploadBody gets the bound, any other stream or
 * iterable is sent through one (its chunks not handed back anywhere). A
 * stream sent through one is destroyed with it: its iterator's return
 * would wait for a read that may never end.
 */
export function engineUpload(body: AsyncIterable<Buffer>): UploadBody {
  if (body instanceof UploadBody) return body.boundStalls(UPLOAD_STALL_MS);
  const upload = new UploadBody(body, () => {}, { stallMs: UPLOAD_STALL_MS });
  if (body instanceof Readable) upload.once('close', () => body.destroy());
  return upload;
}

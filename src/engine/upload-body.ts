// The body of an upload to the engine (PUT archive) made of chunks produced
// as it is sent, that hands each chunk back (`release`) once the connection
// has written it, so that its buffer can be filled again.
//
// dockerode's transport sends a body stream with `body.pipe(request)`:
// UploadBody's pipe writes each chunk itself, with pipe's back-pressure
// (wait for "drain" when write says so), and releases the chunk in that
// write's callback, which the request calls once the socket (unix, tcp, TLS,
// or our ssh connection) has written those bytes, and ends as a stream does
// (stream.pipeline works). Read any other way, it is an ordinary stream of
// the same chunks, none of them released.
import { Readable, type Writable } from 'node:stream';

/**
 * Writes whose callback has not come yet, at most: a destination that never
 * says "wait" (a synchronous one: stdout redirected to a file) calls them
 * back on the next tick, which a producer that never waits on I/O (files
 * read synchronously, each chunk a resolved promise) would never reach, and
 * every chunk of the stream would be held at once.
 */
const MAX_PENDING = 4;

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

/** Resolves true on "drain", false when `dest` closes or fails, or `body` is destroyed, first. */
function drained(dest: Writable, body: Readable): Promise<boolean> {
  return until(dest, body, (go) => {
    dest.once('drain', go);
    return () => dest.off('drain', go);
  });
}

export class UploadBody extends Readable {
  private readonly chunks: AsyncIterator<Buffer>;
  private piped = false;

  constructor(
    chunks: AsyncIterable<Buffer>,
    private readonly release: (chunk: Buffer) => void,
  ) {
    super();
    this.chunks = chunks[Symbol.asyncIterator]();
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
    const oneWritten = () =>
      until(dest, this, (go) => {
        onWritten = go;
        return () => (onWritten = undefined);
      });
    try {
      for (;;) {
        const r = await this.chunks.next();
        if (stopped()) return;
        if (r.done) break;
        const chunk = r.value;
        pending++;
        const more = dest.write(chunk, (err) => {
          pending--;
          if (!err) this.release(chunk);
          onWritten?.();
        });
        if (!more && !(await drained(dest, this))) return;
        while (pending >= MAX_PENDING) if (!(await oneWritten())) return;
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

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

/** Resolves true on "drain", false when `dest` closes or fails, or `body` is destroyed, first. */
function drained(dest: Writable, body: Readable): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      dest.off('drain', onDrain).off('close', onStop).off('error', onStop);
      body.off('close', onStop);
      resolve(ok);
    };
    const onDrain = done(true);
    const onStop = done(false);
    dest.once('drain', onDrain).once('close', onStop).once('error', onStop);
    body.once('close', onStop);
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
    try {
      for (;;) {
        const r = await this.chunks.next();
        if (stopped()) return;
        if (r.done) break;
        const chunk = r.value;
        const more = dest.write(chunk, (err) => {
          if (!err) this.release(chunk);
        });
        if (!more && !(await drained(dest, this))) return;
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

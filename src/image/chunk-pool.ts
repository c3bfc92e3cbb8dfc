// Buffers of one size, lent and handed back, so that a stream of hundreds of
// megabytes goes through a few buffers instead of leaving one fresh buffer a
// megabyte behind it, freed only when the garbage collector gets round to it
// (tens of MB of peak RSS). A buffer is handed back (release) by whoever
// knows its bytes are no longer read, e.g. once a socket has written them; a
// buffer never handed back is simply left to the garbage collector.

export class ChunkPool {
  private readonly free: Buffer[] = [];
  /** Memory of the buffers lent and not handed back yet (weak: one never handed back is collected). */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  constructor(
    readonly size: number,
    /** Buffers kept for reuse at most; more handed back are left to the garbage collector. */
    private readonly keep = 4,
  ) {}

  /** A buffer of `size` bytes (not zeroed): a handed-back one, else a new one. */
  take(): Buffer {
    const b = this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
    this.lent.add(b.buffer);
    return b;
  }

  /** Hands back the buffer `chunk` (the buffer take gave, or a part of it) is in; its bytes must no longer be read. Anything else, and a second release, is ignored. */
  release(chunk: Buffer): void {
    const memory = chunk.buffer;
    if (!this.lent.delete(memory)) return;
    if (this.free.length < this.keep) this.free.push(Buffer.from(memory, 0, this.size));
  }
}

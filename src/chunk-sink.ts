// A sink that takes a batch of buffers (the payloads of one socket read) in
// one call and makes the caller wait only when it must. The exec stream
// moves ~80,000 reads of ~13 KiB per GiB of build output: through a
// Writable, each read cost a queue entry, a callback and a promise on the
// way into build.log, more CPU than the write itself (bench/README.md).
// Shared by the engine's exec stream (engine/demux.ts) and the runner's
// sinks (build.log, the step splitter, short answers).

export interface ChunkSink {
  /**
   * Takes `chunks` (it may keep the buffers, never the array): undefined when
   * the caller may go on at once, or a promise to await before the next put
   * (rejected when the sink failed). May throw for a batch it cannot take.
   */
  put(chunks: Buffer[]): Promise<void> | undefined;
}

/** Keeps the first `limit` bytes put into it (a command's short answer or its error text), drops the rest. */
export class Collected implements ChunkSink {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit = 64 * 1024) {}

  put(chunks: Buffer[]): undefined {
    for (const c of chunks) {
      const room = this.limit - this.size;
      if (room <= 0) break;
      const kept = c.length <= room ? c : c.subarray(0, room);
      this.chunks.push(kept);
      this.size += kept.length;
    }
    return undefined;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

// Splits Docker's multiplexed attach/exec stream (8-byte headers: stream
// type, 3 zero bytes, big-endian length) into its payloads, in arrival
// order, keeping stdout and stderr interleaved as they were written. Frames
// are parsed straight from the socket's data events (no Transform, no copy):
// the payload slices of one socket read go to the sink in one put, and the
// socket pauses while the sink asks to wait.
//
// After a read that drained the socket, the socket rests a moment so that
// the next read takes what piled up meanwhile: a build writes in pieces of
// a few KiB, and read as they come (~13 KiB a read), each piece cost a wake-
// up, a read, a write and their JS on this side, and frames as small on the
// engine's; resting 1 ms made the reads 64 KiB and cut what the whole
// machine spent on 1 GiB of output by 10-20% (bench/README.md, exec stream).
import type { Readable } from 'node:stream';
import type { ChunkSink } from '../chunk-sink.js';

/** What one read of a socket asks for (libuv's suggested size in Node): a shorter read drained it. */
const FULL_READ = 64 * 1024;
/** How long the socket rests after a read that drained it. */
const REST_MS = 1;

/** Cuts the multiplexed stream into its payloads, whatever the cuts between reads (a header may span two). */
export class FrameSplitter {
  private readonly header = Buffer.alloc(8);
  private headerFill = 0;
  /** Bytes of the current frame's payload still to come. */
  private remaining = 0;

  /**
   * The payload pieces in `chunk`, in order: views of it, no copy. With
   * `streams`, each piece's stream type (1 stdout, 2 stderr) is added to it,
   * at the piece's index.
   */
  payloads(chunk: Buffer, streams?: number[]): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.remaining === 0) {
        const n = Math.min(8 - this.headerFill, chunk.length - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + n);
        this.headerFill += n;
        pos += n;
        if (this.headerFill < 8) break;
        this.headerFill = 0;
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - pos);
      out.push(chunk.subarray(pos, pos + n));
      // The header stays whole while its payload comes: the next one is read only after it.
      streams?.push(this.header[0]!);
      this.remaining -= n;
      pos += n;
    }
    return out;
  }
}

/** Puts every payload of `stream` into `sink`; resolves when the stream has ended and the sink took all of it. */
export function demuxInto(stream: Readable, sink: ChunkSink): Promise<void> {
  return new Promise((resolve, reject) => {
    const frames = new FrameSplitter();
    let ended = false;
    let settled = false;
    /** The sink's wait, while the socket is paused for it (one at a time: no data comes while paused). */
    let waiting: Promise<void> | null = null;
    let resting: NodeJS.Timeout | null = null;
    /** Reasons to keep the socket paused (the sink's wait, a rest): it flows again when none is left. */
    let holds = 0;
    const hold = (): void => {
      if (holds++ === 0) stream.pause();
    };
    const release = (): void => {
      if (--holds === 0 && !settled) stream.resume();
    };
    const settle = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      if (resting) clearTimeout(resting);
      stream.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose);
      if (err) {
        stream.destroy();
        reject(err);
      } else resolve();
    };
    const onData = (chunk: Buffer): void => {
      const payloads = frames.payloads(chunk);
      if (chunk.length < FULL_READ && !resting) {
        hold();
        resting = setTimeout(() => {
          resting = null;
          release();
        }, REST_MS);
      }
      if (payloads.length === 0) return;
      let wait: Promise<void> | undefined;
      try {
        wait = sink.put(payloads);
      } catch (err) {
        settle(err as Error);
        return;
      }
      if (!wait) return;
      hold();
      waiting = wait.then(
        () => {
          waiting = null;
          release();
        },
        (err: Error) => settle(err),
      );
    };
    const onEnd = (): void => {
      ended = true;
      if (waiting) waiting.then(() => settle(null));
      else settle(null);
    };
    const onClose = (): void => {
      if (!ended) settle(Object.assign(new Error('the exec stream closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    stream.on('data', onData).on('end', onEnd).on('error', settle).on('close', onClose);
  });
}

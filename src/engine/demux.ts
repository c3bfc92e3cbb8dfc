// Splits Docker's multiplexed attach/exec stream (8-byte headers: stream
// type, 3 zero bytes, big-endian length) into its payloads, in arrival
// order, keeping stdout and stderr interleaved as they were written. Frames
// are parsed straight from the socket's data events (no Transform, no copy):
// the payload slices of one socket read are written into the sink corked, so
// a sink with writev takes them in one call; the socket pauses while the sink
// is full.
import type { Readable, Writable } from 'node:stream';

/** Writes every payload of `stream` into `sink` (which it does not end); resolves when the stream has ended. */
export function demuxInto(stream: Readable, sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const header = Buffer.alloc(8);
    let headerFill = 0;
    let remaining = 0;
    let ended = false;
    let settled = false;
    const resume = (): void => {
      stream.resume();
    };
    const settle = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      stream.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose);
      sink.off('error', settle).off('drain', resume);
      if (err) {
        stream.destroy();
        reject(err);
      } else resolve();
    };
    const onData = (chunk: Buffer): void => {
      let pos = 0;
      let room = true;
      sink.cork();
      while (pos < chunk.length) {
        if (remaining === 0) {
          const n = Math.min(8 - headerFill, chunk.length - pos);
          chunk.copy(header, headerFill, pos, pos + n);
          headerFill += n;
          pos += n;
          if (headerFill < 8) break;
          headerFill = 0;
          remaining = header.readUInt32BE(4);
          continue;
        }
        const n = Math.min(remaining, chunk.length - pos);
        room = sink.write(chunk.subarray(pos, pos + n)) && room;
        remaining -= n;
        pos += n;
      }
      sink.uncork();
      if (!room && !settled) {
        stream.pause();
        sink.once('drain', resume);
      }
    };
    const onEnd = (): void => {
      ended = true;
      settle(null);
    };
    const onClose = (): void => {
      if (!ended) settle(Object.assign(new Error('the exec stream closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    stream.on('data', onData).on('end', onEnd).on('error', settle).on('close', onClose);
    sink.on('error', settle);
  });
}

// Splits Docker's multiplexed attach/exec stream (8-byte headers: stream
// type, 3 zero bytes, big-endian length) into its payloads, in arrival
// order, keeping stdout and stderr interleaved as they were written.
import { Transform, type TransformCallback } from 'node:stream';

export class DemuxTransform extends Transform {
  private header = Buffer.alloc(8);
  private headerFill = 0;
  private remaining = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
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
      this.push(chunk.subarray(pos, pos + n));
      this.remaining -= n;
      pos += n;
    }
    done();
  }
}

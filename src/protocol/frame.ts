// Length-prefixed frames, as Erlang's {:packet, 4} port option writes them:
// a 4-byte big-endian length followed by that many bytes of body.
import { OpError } from '../errors.js';

export const HEADER_SIZE = 4;
/** Largest body either side may send. Past it the framing is treated as lost. */
export const MAX_FRAME_SIZE = 64 * 1024 * 1024;

/** The OpError `frame_too_large`, with the sizes. */
export class FrameTooLargeError extends OpError {
  constructor(
    readonly size: number,
    readonly max: number = MAX_FRAME_SIZE,
  ) {
    super('frame_too_large', `frame of ${size} bytes exceeds the maximum of ${max} bytes`);
  }
}

/** Prefixes a body with its length. */
export function encodeFrame(body: Uint8Array, max: number = MAX_FRAME_SIZE): Buffer {
  if (body.length > max) throw new FrameTooLargeError(body.length, max);
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

/**
 * Splits a byte stream into frame bodies. Chunks are kept in a list and only
 * joined once a whole frame is there, so a large frame costs one copy.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1; // body length of the frame being read, -1 while reading a header

  constructor(private readonly max: number = MAX_FRAME_SIZE) {}

  /** Bytes received but not yet returned as a frame. */
  get pending(): number {
    return this.buffered;
  }

  /** Feeds bytes; returns the complete frame bodies they finish. Throws FrameTooLargeError. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < HEADER_SIZE) break;
        const size = this.take(HEADER_SIZE).readUInt32BE(0);
        if (size > this.max) throw new FrameTooLargeError(size, this.max);
        this.need = size;
      }
      if (this.buffered < this.need) break;
      frames.push(this.take(this.need));
      this.need = -1;
    }
    return frames;
  }

  /** Describes an unfinished frame at end of input, or null when input ended cleanly. */
  leftover(): string | null {
    if (this.need >= 0) return `input ended inside a frame (${this.buffered} of ${this.need} body bytes)`;
    if (this.buffered > 0) return `input ended inside a frame header (${this.buffered} of ${HEADER_SIZE} bytes)`;
    return null;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks, this.buffered);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}

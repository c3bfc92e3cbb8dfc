// Reproducible gzip: node's zlib with the header's OS byte fixed to 255
// ("unknown") so the output does not depend on the platform Node was built on.
// Also the bound on what a gzip stream may inflate to (pull, base images).
import { createGzip } from 'node:zlib';
import { Readable } from 'node:stream';

export async function* gzipStream(input: AsyncIterable<Buffer>, level = 6): AsyncIterable<Buffer> {
  const gz = createGzip({ level });
  const src = Readable.from(input);
  src.on('error', (err) => gz.destroy(err));
  src.pipe(gz);
  let first = true;
  for await (const chunk of gz as AsyncIterable<Buffer>) {
    if (first && chunk.length >= 10) {
      chunk[9] = 255;
      first = false;
    }
    yield chunk;
  }
}

export function isGzip(head: Buffer): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** Deflate cannot expand data more than about 1032 times: a stream inflating further is a gzip bomb. */
export const DEFLATE_MAX_RATIO = 1032;

/** The most `compressed` bytes of gzip may inflate to (the ratio, plus room for headers and tiny inputs). */
export function inflatedMax(compressed: number): number {
  return compressed * DEFLATE_MAX_RATIO + 65536;
}

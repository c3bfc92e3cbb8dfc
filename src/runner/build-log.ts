// build.log / archive.log: every byte of the steps' output, in order, written
// with backpressure, with headline scanning on the way through.
import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { HeadlineScanner } from './headlines.js';

export class BuildLog {
  private bytes = 0;
  private lastWrite = Date.now();

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly scanner: HeadlineScanner,
  ) {}

  /** Creates (truncates) the log file. */
  static async create(path: string, onHeadline: (text: string) => void): Promise<BuildLog> {
    const fh = await open(path, 'w');
    return new BuildLog(path, fh, new HeadlineScanner(onHeadline));
  }

  get size(): number {
    return this.bytes;
  }

  get lastOutputAt(): number {
    return this.lastWrite;
  }

  async write(chunk: Buffer | string): Promise<void> {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.lastWrite = Date.now();
    this.scanner.push(buf);
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    this.bytes += buf.length;
  }

  /** Several chunks in one writev (the sink's batch while the previous write was in flight). */
  async writeMany(chunks: Buffer[]): Promise<void> {
    this.lastWrite = Date.now();
    let total = 0;
    for (const c of chunks) {
      this.scanner.push(c);
      total += c.length;
    }
    let written = 0;
    let rest = chunks;
    while (written < total) {
      const { bytesWritten } = await this.fh.writev(rest);
      written += bytesWritten;
      if (written < total) rest = remainder(chunks, written);
    }
    this.bytes += total;
  }

  /** A Writable for one step's output; it never ends the log itself. */
  sink(): Writable {
    return new Writable({
      highWaterMark: 1 << 20,
      write: (chunk: Buffer, _enc, done) => {
        this.write(chunk).then(() => done(), done);
      },
      writev: (chunks, done) => {
        this.writeMany(chunks.map((c) => c.chunk as Buffer)).then(() => done(), done);
      },
      final: (done) => {
        this.scanner.flush();
        done();
      },
    });
  }

  async close(): Promise<void> {
    this.scanner.flush();
    await this.fh.close();
  }
}

/** What is left of `chunks` after the first `skip` bytes. */
function remainder(chunks: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (skip >= c.length) {
      skip -= c.length;
      continue;
    }
    out.push(skip > 0 ? c.subarray(skip) : c);
    skip = 0;
  }
  return out;
}

/** The last `lines` lines of a file, read from its end (the log may be huge). */
export async function tailFile(path: string, lines = 16, maxBytes = 256 * 1024): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const text = buf.toString('utf8').replace(/\n$/, '');
    return text.split('\n').slice(-lines).join('\n');
  } finally {
    await fh.close();
  }
}

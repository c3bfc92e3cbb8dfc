// build.log / archive.log: every byte of the steps' output, in order, written
// with backpressure, with headline scanning on the way through.
import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { HeadlineScanner } from './headlines.js';
import { writevAll, writevAllSync } from '../../write-all.js';

/** Batches up to this size are written synchronously when no write is under way. */
const SYNC_WRITE_MAX = 256 * 1024;

export class BuildLog {
  private bytes = 0;
  private lastWrite = Date.now();
  /** The last write under way: writes go one after another in the order they were asked for (two writes at the file's offset at once would overwrite each other), and close waits for the last. */
  private tail: Promise<unknown> = Promise.resolve();
  private inFlight = 0;

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
    await this.writeMany([typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
  }

  /** Several chunks in one writev (the sink's batch while the previous write was in flight). */
  async writeMany(chunks: Buffer[]): Promise<void> {
    this.lastWrite = Date.now();
    for (const c of chunks) this.scanner.push(c);
    if (this.inFlight === 0) {
      // Nothing under way and a small batch: written here, as the docker CLI does, rather than
      // handed to the thread pool (a hand-off and a wake-up per write on a busy machine).
      const total = chunks.reduce((n, c) => n + c.length, 0);
      if (total <= SYNC_WRITE_MAX) {
        writevAllSync(this.fh.fd, chunks);
        this.bytes += total;
        return;
      }
    }
    this.inFlight++;
    const write = this.tail.then(() => writevAll(this.fh, chunks)).finally(() => this.inFlight--);
    this.tail = write.catch(() => {});
    const written = await write; // not `this.bytes += await write`: that reads this.bytes before the wait
    this.bytes += written;
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

  /** Closes the file once every write under way is done (also one nobody awaited): `size` is then final. */
  async close(): Promise<void> {
    this.scanner.flush();
    await this.tail;
    await this.fh.close();
  }
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

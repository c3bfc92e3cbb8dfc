// build.log / archive.log: every byte of the steps' output, in order, written
// with backpressure, with headline scanning on the way through. A write that
// fails (a full disk) fails the log: the first failure is remembered as the
// job's error and reported to whoever waits on the log; later writes are
// dropped.
import { once } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Writable } from 'node:stream';
import type { ChunkSink } from '../../chunk-sink.js';
import { OpError } from '../../errors.js';
import { HeadlineScanner } from './headlines.js';
import { writevAll, writevAllSync } from '../../write-all.js';

/** Batches up to this size are written synchronously when no write is under way. */
const SYNC_WRITE_MAX = 256 * 1024;

export class BuildLog implements ChunkSink {
  private bytes = 0;
  private lastWrite = Date.now();
  /** The last write under way: writes go one after another in the order they were asked for (two writes at the file's offset at once would overwrite each other), and close waits for the last. */
  private tail: Promise<unknown> = Promise.resolve();
  private inFlight = 0;
  private failed: OpError | null = null;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly scanner: HeadlineScanner,
  ) {}

  /** Creates (truncates) the log file. */
  /** Opens (truncates) the log; one that cannot be created fails as the job's error (OpError `log_file`), as a failed write does. */
  static async create(path: string, onHeadline: (text: string) => void): Promise<BuildLog> {
    const fh = await open(path, 'w').catch((err: unknown) => {
      throw logFileError(path, err);
    });
    return new BuildLog(path, fh, new HeadlineScanner(onHeadline));
  }

  get size(): number {
    return this.bytes;
  }

  get lastOutputAt(): number {
    return this.lastWrite;
  }

  /** The first write that failed, as the job's error (OpError `log_file`); null while every write went through. */
  get failure(): OpError | null {
    return this.failed;
  }

  /** Throws the log's failure, if a write failed. */
  throwIfFailed(): void {
    if (this.failed) throw this.failed;
  }

  async write(chunk: Buffer | string): Promise<void> {
    await this.put([typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
  }

  /**
   * Several chunks in one writev: written here, as the docker CLI does, when no write is under way and
   * the batch is small (undefined: done); otherwise handed to the thread pool behind the writes before
   * it (a promise of its end). The write that fails throws (or rejects with) the log's failure; once
   * the log failed, chunks are dropped.
   */
  put(chunks: Buffer[]): Promise<void> | undefined {
    if (this.failed) return undefined;
    this.lastWrite = Date.now();
    let total = 0;
    for (const c of chunks) {
      this.scanner.push(c);
      total += c.length;
    }
    if (this.inFlight === 0 && total <= SYNC_WRITE_MAX) {
      try {
        writevAllSync(this.fh.fd, chunks);
      } catch (err) {
        throw this.fail(err);
      }
      this.bytes += total;
      return undefined;
    }
    return this.writeBehind(chunks);
  }

  private async writeBehind(chunks: Buffer[]): Promise<void> {
    this.inFlight++;
    // A write queued before a failure is dropped (0 bytes): the tail's catch has remembered the failure.
    const write = this.tail.then(() => (this.failed ? 0 : writevAll(this.fh, chunks))).finally(() => this.inFlight--);
    this.tail = write.catch((err: unknown) => void this.fail(err));
    let written: number;
    try {
      written = await write; // not `this.bytes += await write`: that reads this.bytes before the wait
    } catch (err) {
      throw this.fail(err);
    }
    this.bytes += written;
  }

  /** Remembers the first failure (the job's error) and returns it. */
  private fail(err: unknown): OpError {
    this.failed ??= logFileError(this.path, err);
    return this.failed;
  }

  /** Resolves when every write asked for so far is done; rejects with the log's failure, if a write failed. */
  async settled(): Promise<void> {
    await this.tail;
    this.throwIfFailed();
  }

  /** A sink for one step's output (a Writable, and a ChunkSink for the exec stream); it never ends the log itself. */
  sink(): LogSink {
    return new LogSink(this);
  }

  /** The end of a step's output: a headline still open is reported. */
  flushHeadline(): void {
    this.scanner.flush();
  }

  /**
   * Closes the file once every write under way is done (also one nobody awaited): `size` is then final.
   * Then rejects with the log's failure, if a write failed.
   */
  async close(): Promise<void> {
    this.scanner.flush();
    await this.tail;
    await this.fh.close();
    this.throwIfFailed();
  }
}

/** The job's error for a log file that cannot be created or written (`err`: the system's error). */
export function logFileError(path: string, err: unknown): OpError {
  return new OpError(
    'log_file',
    `cannot write ${basename(path)} in ${dirname(path)}: ${(err as Error).message}`,
    `Free space on the disk that holds ${dirname(path)} (log_dir), or make sure that it is writable; then run it again.`,
  );
}

/**
 * One step's output into the log. As a Writable (FIFO output), with its own queue and backpressure; as
 * a ChunkSink (the exec stream), straight into the log while that queue is empty, so the two ways keep
 * one order. Ending it reports an open headline and waits until every write is done.
 *
 * When the log fails, the sink errors (destroyed with the log's failure); later writes and puts are
 * dropped. Its 'error' needs no listener: the log remembers the failure, and ending the sink, the log's
 * settled() and close() report it (an 'error' event nobody listens to would end the process).
 */
export class LogSink extends Writable implements ChunkSink {
  constructor(private readonly log: BuildLog) {
    super({ highWaterMark: 1 << 20 });
    this.on('error', () => {});
  }

  put(chunks: Buffer[]): Promise<void> | undefined {
    // Errored: the log failed (no 'drain' will come) and drops the chunks.
    if ((this.writableLength === 0 && !this.writableEnded) || this.errored) return this.log.put(chunks);
    let room = true;
    this.cork();
    for (const c of chunks) room = this.write(c) && room;
    this.uncork();
    return room ? undefined : once(this, 'drain').then(() => undefined); // rejects if the sink fails first
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.take([chunk], done);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    this.take(
      chunks.map((c) => c.chunk),
      done,
    );
  }

  private take(chunks: Buffer[], done: (err?: Error | null) => void): void {
    let wait: Promise<void> | undefined;
    try {
      wait = this.log.put(chunks);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (wait) wait.then(() => done(), done);
    else done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.log.flushHeadline();
    this.log.settled().then(() => done(), done);
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

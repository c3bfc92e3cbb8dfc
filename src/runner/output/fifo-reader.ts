// Reading one FIFO of step output (see step-output.ts): into a sink with
// backpressure, checking and dropping the token the step writes first (it
// proves the step could open the FIFO), and telling EOF (every writer gone)
// from a writer that lingers after the step. A sink that fails (build.log
// cannot be written) stops the reading and fails the read side.
import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { OpError } from '../../errors.js';

export const OUTPUT_ENV = 'NERVES_DOCKER_TS_STEP_OUTPUT';
/** The hint of every FIFO error. */
export const EXEC_HINT = `Set ${OUTPUT_ENV}=exec to stream step output through the engine instead.`;
/** The step's token must arrive this soon: an open that blocks means the engine does not share our FIFOs. */
export const TOKEN_TIMEOUT_MS = 15_000;
/** After the step ended, how long a process it left behind may keep the FIFO open (reset by each chunk). */
export const LINGER_MS = 2_000;

/** A FIFO's read end (epoll, through a net.Socket), paused, and our write end, which keeps EOF away until the container has opened it. */
export function openFifo(path: string): { wfd: number | null; sock: Socket } {
  const rfd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const wfd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  const sock = new Socket({ fd: rfd, readable: true, writable: false });
  sock.pause();
  return { wfd, sock };
}

/** Closes our write end (idempotent): from then on, EOF means every writer in the container is gone. */
export function closeWriteEnd(o: { wfd: number | null }): void {
  if (o.wfd !== null) closeSync(o.wfd);
  o.wfd = null;
}

/** Reads a FIFO (paused until resume) into a sink with backpressure, checking and dropping the token in front. */
export class FifoReader {
  sawToken = false;
  private sink: Writable | null = null;
  private ended = false;
  private failed: Error | null = null;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private wake: (() => void) | null = null;
  /** Rejects with the sink's error when the sink fails (its log cannot be written); never resolves. */
  readonly sinkFailed: Promise<never>;
  private rejectSinkFailed!: (err: Error) => void;

  constructor(
    private readonly sock: Socket,
    private readonly token: Buffer,
  ) {
    this.sinkFailed = new Promise<never>((_resolve, reject) => (this.rejectSinkFailed = reject));
    this.sinkFailed.catch(() => {}); // awaited only while a step runs
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('end', () => this.settle(() => (this.ended = true)));
    sock.on('error', (err) => this.settle(() => (this.failed = err)));
  }

  private settle(change: () => void): void {
    change();
    this.wake?.();
  }

  private onData(chunk: Buffer): void {
    if (!this.sawToken) {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      if (this.pendingLen < this.token.length) return;
      const head = Buffer.concat(this.pending);
      this.pending = [];
      if (!head.subarray(0, this.token.length).equals(this.token)) {
        this.settle(() => (this.failed = new Error('unexpected data in front of the step output')));
        this.sock.destroy();
        return;
      }
      this.settle(() => (this.sawToken = true));
      chunk = head.subarray(this.token.length);
      if (chunk.length === 0) return;
    }
    this.wake?.();
    const sink = this.sink!; // data flows only after resume(sink)
    if (!sink.write(chunk)) {
      this.sock.pause();
      sink.once('drain', () => this.sock.resume());
    }
  }

  /** Rejects when the token has not come within `ms` (the promise never resolves). */
  tokenTimeout(ms: number): Promise<never> {
    return new Promise((_resolve, reject) => {
      const check = () => {
        if (this.sawToken) return;
        if (this.failed) return reject(new OpError('step_output', `The step output FIFO failed: ${this.failed.message}`, EXEC_HINT));
        reject(
          new OpError(
            'step_output',
            `The build container did not open the runner's output FIFO within ${ms / 1000} s: the engine does not seem to run on this machine's kernel.`,
            EXEC_HINT,
          ),
        );
      };
      const timer = setTimeout(check, ms);
      timer.unref();
      const prev = this.wake;
      this.wake = () => {
        prev?.();
        if (this.sawToken) clearTimeout(timer);
        else if (this.failed) {
          clearTimeout(timer);
          check();
        }
      };
    });
  }

  /** Waits for EOF (every writer gone); false when writers linger `ms` after the last chunk. */
  async drained(ms: number): Promise<boolean> {
    for (;;) {
      if (this.failed) throw this.failed;
      if (this.ended) return true;
      const progressed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        this.wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.wake = null;
      // A paused socket waits for a slow disk, not for a lingering writer.
      if (!progressed && !this.ended && !this.failed && !this.sock.isPaused()) return false;
    }
  }

  /** Starts the flow into `sink`. */
  resume(sink: Writable): void {
    this.sink = sink;
    if (sink.errored) return this.sinkError(sink.errored);
    sink.once('error', (err) => this.sinkError(err));
    this.sock.resume();
  }

  /**
   * The sink failed: no 'drain' will come. Stops reading (the step's writes
   * then fail, EPIPE) and fails the read side with the sink's error:
   * sinkFailed first, so that it wins a race with tokenTimeout's.
   */
  private sinkError(err: Error): void {
    this.sock.destroy();
    this.rejectSinkFailed(err);
    this.settle(() => (this.failed ??= err));
  }

  destroy(): void {
    this.wake = null;
    this.sock.destroy();
  }
}

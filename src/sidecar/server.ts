// The sidecar's protocol loop: frames in from the plugin, dispatch to ops,
// events, prompts and replies out. Several requests may be in flight.
import type { Readable, Writable } from 'node:stream';
import { decodeMessage, encodeMessage } from '../protocol/codec.js';
import { encodeFrame, FrameDecoder, FrameTooLargeError } from '../protocol/frame.js';
import { BadMessageError, parseInbound, type ErrorInfo, type RequestId } from '../protocol/messages.js';
import { CleanupRegistry } from '../protocol/cleanup.js';
import { type OpContext } from '../protocol/op-context.js';
import { OpError } from '../errors.js';
import { helloInfo, knownOps, resolveOp } from './ops.js';

interface InFlight {
  op: string;
  controller: AbortController;
  prompts: Map<number, (answer: unknown) => void>;
}

export interface ServerOptions {
  input: Readable;
  output: Writable;
  log?: (line: string) => void;
  /** Called once when the server has stopped (input ended, framing lost, a signal, a shutdown frame), after cleanup. */
  onStop?: (reason: StopReason, exitCode: number) => void;
  /** Called after cleanup when the server stopped while requests were in flight. */
  onInterrupted?: (reason: StopReason, ops: string[]) => void;
}

/** Why the server stops: stdin's end, lost framing, a signal, or the plugin's `shutdown` frame. */
export type StopReason = 'eof' | 'framing' | 'signal' | 'shutdown';

function keyOf(id: RequestId): string {
  return typeof id === 'bigint' ? `b${id}` : `n${id}`;
}

export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof OpError) return { code: err.code, message: err.message, hint: err.hint };
  const e = err as { code?: unknown; message?: unknown; hint?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' ? e.code : 'internal';
  const hint = typeof e?.hint === 'string' ? e.hint : null;
  return { code, message, hint };
}

export class SidecarServer {
  readonly cleanup = new CleanupRegistry();
  private readonly decoder = new FrameDecoder();
  private readonly inflight = new Map<string, InFlight>();
  private nextRef = 1;
  private stopped = false;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: ServerOptions) {
    this.log = opts.log ?? ((line) => process.stderr.write(`[nerves-docker-ts sidecar] ${line}\n`));
  }

  start(): void {
    this.send({ hello: helloInfo() });
    const { input } = this.opts;
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    input.on('end', () => void this.stop('eof'));
    input.on('error', (err) => {
      this.log(`stdin error: ${err.message}`);
      void this.stop('eof');
    });
    this.opts.output.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE: the plugin is gone; stdin's end follows, which stops us.
      if (err.code !== 'EPIPE') this.log(`stdout error: ${err.message}`);
    });
  }

  /** Requests in flight now. */
  get busy(): number {
    return this.inflight.size;
  }

  /**
   * Ctrl-C: aborts every request in flight (each replies with an
   * "interrupted" error once its cleanup is done) but keeps serving: the
   * plugin decides when to close us.
   */
  interrupt(): void {
    for (const f of this.inflight.values()) f.controller.abort(new OpError('interrupted', 'interrupted (SIGINT)'));
  }

  /** Aborts everything in flight, runs cleanup, then reports through onStop. */
  async stop(reason: StopReason, exitCode = reason === 'framing' ? 2 : 0): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (reason === 'eof') {
      const left = this.decoder.leftover();
      if (left) this.log(left);
    }
    const ops = [...this.inflight.values()].map((f) => f.op);
    for (const f of this.inflight.values()) f.controller.abort(new OpError('interrupted', `sidecar stopping (${reason})`));
    await this.cleanup.runAll(10_000, this.log);
    if (ops.length > 0) this.opts.onInterrupted?.(reason, ops);
    this.opts.onStop?.(reason, exitCode);
  }

  private send(message: unknown): void {
    if (this.stopped && !this.opts.output.writable) return;
    let frame: Buffer;
    try {
      frame = encodeFrame(encodeMessage(message));
    } catch (err) {
      const id = (message as { id?: RequestId }).id ?? null;
      frame = encodeFrame(encodeMessage({ id, error: toErrorInfo(err) }));
    }
    this.opts.output.write(frame);
  }

  private onData(chunk: Buffer): void {
    if (this.stopped) return;
    let bodies: Buffer[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (err) {
      if (err instanceof FrameTooLargeError) {
        this.log(`framing lost: ${err.message}; exiting`);
        this.send({
          id: null,
          error: { code: err.code, message: err.message, hint: 'frames are 4-byte big-endian length + msgpack body' },
        });
        void this.stop('framing');
        return;
      }
      throw err;
    }
    for (const body of bodies) this.onFrame(body);
  }

  private onFrame(body: Buffer): void {
    let value: unknown;
    try {
      value = decodeMessage(body);
    } catch (err) {
      this.send({ id: null, error: { code: 'bad_frame', message: `malformed msgpack frame: ${(err as Error).message}`, hint: null } });
      return;
    }
    let msg;
    try {
      msg = parseInbound(value);
    } catch (err) {
      const e = err as BadMessageError;
      this.send({ id: e.id ?? null, error: { code: 'bad_request', message: e.message, hint: null } });
      return;
    }
    switch (msg.kind) {
      case 'request':
        void this.dispatch(msg.id, msg.op, msg.args);
        break;
      case 'answer': {
        const resolve = this.inflight.get(keyOf(msg.id))?.prompts.get(msg.ref);
        if (resolve) resolve(msg.answer);
        else this.log(`answer for unknown prompt ${String(msg.id)}/${msg.ref} ignored`);
        break;
      }
      case 'cancel':
        this.inflight.get(keyOf(msg.id))?.controller.abort(new OpError('interrupted', 'cancelled by the plugin'));
        break;
      case 'shutdown':
        void this.stop('shutdown');
        break;
    }
  }

  private async dispatch(id: RequestId, op: string, args: unknown): Promise<void> {
    const key = keyOf(id);
    if (this.inflight.has(key)) {
      this.send({ id, error: { code: 'bad_request', message: `request id ${String(id)} is already in flight`, hint: null } });
      return;
    }
    const entry: InFlight = { op, controller: new AbortController(), prompts: new Map() };
    this.inflight.set(key, entry);
    const ctx: OpContext = {
      id,
      signal: entry.controller.signal,
      cleanup: this.cleanup,
      emit: (event, data) => this.send({ id, event, data }),
      prompt: (message, kind = 'yes') =>
        new Promise((resolve, reject) => {
          const ref = this.nextRef++;
          const onAbort = () => reject(entry.controller.signal.reason);
          entry.controller.signal.addEventListener('abort', onAbort, { once: true });
          entry.prompts.set(ref, (answer) => {
            entry.prompts.delete(ref);
            entry.controller.signal.removeEventListener('abort', onAbort);
            resolve(answer);
          });
          this.send({ id, prompt: { ref, kind, message } });
        }),
      debug: (line) => this.log(line),
    };
    try {
      const handler = await resolveOp(op);
      if (!handler) {
        throw new OpError('unknown_op', `unknown op "${op}"`, `known ops: ${knownOps().join(', ')}`);
      }
      const result = await handler(args, ctx);
      this.send({ id, ok: result ?? null });
    } catch (err) {
      this.send({ id, error: toErrorInfo(err) });
    } finally {
      this.inflight.delete(key);
    }
  }
}

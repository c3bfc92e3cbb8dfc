// Whether a tcp:// engine is still reachable, asked when a connection to it
// has sent something and heard nothing back for a while: an upload under way
// or at its end, keys typed into a shell. TCP keep-alive only probes a
// connection with nothing unacknowledged, so over a link that died silently
// such a connection waits for the kernel's retransmissions (~15 minutes).
//
// Each connection's write method is wrapped to note when it last wrote and
// how many bytes it had read then (no listener is added: a "data" listener
// would take an upgraded stream's bytes from its owner). A connection that
// has read nothing since its last write, 15 s ago or more, makes the probe
// ping the engine (GET /_ping through the same agent, TLS included, on an
// idle connection or a new one); when two pings in a row get no answer
// within 10 s each, the silent connections are failed with ETIMEDOUT. An
// upload the engine keeps taking writes on and is never silent; a long wait
// for the engine's answer is, and a live engine answers the ping at once.
import { request as httpRequest, type Agent } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

export interface ProbeTimings {
  /** Silence after a write before the engine is pinged (and between pings). */
  silenceMs: number;
  /** How often the watched connections are looked at. */
  tickMs: number;
  /** A ping that takes longer counts as no answer. */
  pingTimeoutMs: number;
}

const TIMINGS: ProbeTimings = { silenceMs: 15_000, tickMs: 2_500, pingTimeoutMs: 10_000 };
/** Pings in a row without an answer before the link is taken for dead. */
const PINGS = 2;

interface Watched {
  socket: Socket;
  /** When it last wrote (0: not yet). */
  wroteAt: number;
  /** Its bytesRead at that write. */
  readThen: number;
}

export class LinkProbe {
  private readonly watched = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;
  private pinging = false;
  private pingedAt = 0;

  constructor(
    private readonly agent: Agent,
    private readonly where: { host: string; port: number },
    private readonly t: ProbeTimings = TIMINGS,
  ) {}

  watch(socket: Socket): void {
    const w: Watched = { socket, wroteAt: 0, readThen: 0 };
    const write = socket.write;
    socket.write = function (this: Socket, ...args: unknown[]): boolean {
      w.wroteAt = Date.now();
      w.readThen = this.bytesRead;
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as Socket['write'];
    this.watched.add(w);
    socket.once('close', () => {
      this.watched.delete(w);
      if (this.watched.size === 0) this.stop();
    });
    this.timer ??= setInterval(() => this.tick(), this.t.tickMs).unref();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The connections that have read nothing since their last write, silenceMs ago or more. */
  private silent(now: number): Watched[] {
    const out: Watched[] = [];
    for (const w of this.watched)
      if (w.wroteAt > 0 && now - w.wroteAt >= this.t.silenceMs && w.socket.bytesRead === w.readThen && !w.socket.destroyed) out.push(w);
    return out;
  }

  private tick(): void {
    const now = Date.now();
    if (this.pinging || this.silent(now).length === 0 || now - this.pingedAt < this.t.silenceMs) return;
    this.pinging = true;
    void this.pingUntilDead().finally(() => {
      this.pinging = false;
      this.pingedAt = Date.now();
    });
  }

  private async pingUntilDead(): Promise<void> {
    let lastError = '';
    for (let i = 0; i < PINGS; i++) {
      const failure = await this.ping();
      if (failure === null) return;
      lastError = failure;
    }
    const err = new Error(
      `the engine at ${this.where.host}:${this.where.port} stopped answering: nothing came back for ${this.t.silenceMs / 1000} s after a write, and ${PINGS} pings in a row got no answer (${lastError})`,
    ) as NodeJS.ErrnoException;
    err.code = 'ETIMEDOUT';
    for (const w of this.silent(Date.now())) w.socket.destroy(err);
  }

  /** GET /_ping through the agent: null once answered, else why not. */
  private ping(): Promise<string | null> {
    const request =
      (this.agent as Agent & { protocol?: string }).protocol === 'https:'
        ? (createRequire(import.meta.url)('node:https') as typeof import('node:https')).request
        : httpRequest;
    return new Promise((resolve) => {
      const req = request({
        host: this.where.host,
        port: this.where.port,
        path: '/_ping',
        agent: this.agent,
        timeout: this.t.pingTimeoutMs,
      });
      req.once('response', (res) => {
        res.resume();
        resolve(null);
      });
      req.once('timeout', () => req.destroy(new Error(`no answer within ${this.t.pingTimeoutMs / 1000} s`)));
      req.once('error', (err) => resolve(err.message));
      req.end();
    });
  }
}

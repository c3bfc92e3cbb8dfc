// The HTTP agent of a tcp:// engine (plain or TLS), bounded against a link
// that dies silently (Wi-Fi gone, a VPN dropped, a build server powered
// off: no close, no reset, nothing comes back):
//
// - TCP keep-alive on every connection from its start, so that a stream
//   that only reads (a step's output during a quiet step) fails after
//   KEEPALIVE_IDLE_MS plus libuv's ten probes a second apart, instead of
//   never; the docker CLI keeps it on too;
// - a connect that does not complete within CONNECT_TIMEOUT_MS fails
//   (ETIMEDOUT): the kernel's own SYN retries take 127 s, and the requests
//   that follow a lost stream (the exec's status, the container's removal)
//   each make a new connection;
// - a connection that has read nothing since it last wrote, 15 s ago or
//   more (an upload, keys typed into a shell), is where keep-alive cannot
//   help: it only probes a connection with nothing unacknowledged, and data
//   in flight waits for the kernel's retransmissions (~15 minutes). Such a
//   connection makes the agent ping the engine (link-probe.ts); when two
//   pings in a row get no answer within 10 s, the silent connections are
//   failed (ETIMEDOUT).
//
// Otherwise as Node's global agent: connections kept open and reused, the
// last freed first, an idle one closed after 5 s.
import { Agent, type AgentOptions } from 'node:http';
import type { Agent as HttpsAgent, AgentOptions as HttpsAgentOptions } from 'node:https';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { LinkProbe } from './link-probe.js';

const KEEPALIVE_IDLE_MS = 15_000;
const CONNECT_TIMEOUT_MS = 10_000;

const POOL: AgentOptions = { keepAlive: true, keepAliveMsecs: KEEPALIVE_IDLE_MS, scheduling: 'lifo', timeout: 5000 };

/** The agent for tcp://HOST:PORT without TLS. */
export function tcpAgent(): Agent {
  return bounded(new Agent(POOL));
}

/** The agent for a TLS engine; `tls`: the agent's own TLS options (rejectUnauthorized: false when not verifying). */
export function tlsAgent(tls: HttpsAgentOptions = {}): HttpsAgent {
  // node:https (and tls under it, ~20 ms) is loaded here, for TLS engines only.
  const https = createRequire(import.meta.url)('node:https') as typeof import('node:https');
  return bounded(new https.Agent({ ...POOL, ...tls }));
}

type CreateConnection = (options: { host?: string; port?: number }, cb?: unknown) => Socket | undefined;

function bounded<A extends Agent>(agent: A): A {
  const self = agent as unknown as { createConnection: CreateConnection };
  const create = self.createConnection.bind(agent);
  let probe: LinkProbe | undefined;
  self.createConnection = (options, cb) => {
    const socket = create(options, cb);
    if (!socket) return socket;
    (probe ??= new LinkProbe(agent, { host: options.host ?? 'localhost', port: options.port ?? 0 })).watch(socket);
    // Before the connect: Node applies it once the socket exists.
    socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    const where = `${options.host ?? 'localhost'}:${options.port ?? ''}`;
    const timer = setTimeout(() => {
      const err = new Error(`connect ETIMEDOUT ${where} (no answer within ${CONNECT_TIMEOUT_MS / 1000} s)`) as NodeJS.ErrnoException;
      err.code = 'ETIMEDOUT';
      socket.destroy(err);
    }, CONNECT_TIMEOUT_MS);
    timer.unref();
    const done = () => clearTimeout(timer);
    socket.once('connect', done);
    socket.once('close', done);
    return socket;
  };
  return agent;
}

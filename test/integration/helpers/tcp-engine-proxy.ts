// A TCP listener on 127.0.0.1 in front of the real engine's unix socket
// (DOCKER_HOST=tcp://127.0.0.1:PORT), for tests of dropped connections: it
// can cut every connection whose request matches, once so many bytes of that
// request's body (an upload) or of its answer (a download) went through, or
// stall it there instead (a link gone silent: the connection stays open and
// nothing more of that request goes through).
//
// Requests are recognized by their request line at the start of a chunk the
// client sends: an HTTP/1.1 client sends its next request on a connection only
// after the previous answer, so a request always starts a chunk.
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { DEFAULT_SOCKET } from '../../../src/engine/connect.js';

export interface Cut {
  /** Which requests: 'upload' counts the request body's bytes, 'download' the answer's. */
  direction: 'upload' | 'download';
  /** Matched against "METHOD /decoded/path?query". */
  request: RegExp;
  /** Cut the connection once more than this many bytes of it went through. */
  afterBytes: number;
  /** Stall instead of cutting: the connection stays open, and that direction passes nothing more. */
  stall?: boolean;
  /** Cut with a TCP reset (the client reads ECONNRESET) instead of a close. */
  reset?: boolean;
}

export interface TcpEngineProxy {
  server: Server;
  port: number;
  /** DOCKER_HOST for it. */
  address: string;
  /** What to cut from now on (null: nothing). */
  cut: Cut | null;
  /** The connections cut (or stalled) so far, each as its request line. */
  readonly cuts: string[];
  /** Every request line seen, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

const REQUEST_LINE = /^([A-Z]+) (\S+) HTTP\/1\.[01]\r\n/;

export function tcpEngineProxy(): Promise<TcpEngineProxy> {
  const open = new Set<Socket>();
  const proxy = { cut: null as Cut | null, cuts: [] as string[], requests: [] as string[] };
  const server = createServer((client: Socket) => {
    open.add(client);
    const upstream = createConnection(DEFAULT_SOCKET);
    // The request in flight on this connection, when it matches the cut: bytes counted so far.
    let watched: { cut: Cut; line: string; bytes: number } | null = null;
    // A stalled direction passes nothing more (its bytes are read and dropped, its end not told: a silent link).
    let stalled: Cut['direction'] | null = null;
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    const count = (n: number, direction: Cut['direction']) => {
      if (stalled === direction) return true;
      if (!watched || watched.cut.direction !== direction) return false;
      watched.bytes += n;
      if (watched.bytes <= watched.cut.afterBytes) return false;
      proxy.cuts.push(watched.line);
      if (watched.cut.stall) stalled = direction;
      else if (watched.cut.reset) {
        client.resetAndDestroy();
        upstream.destroy();
      } else end();
      watched = null;
      return true;
    };
    client.on('data', (chunk: Buffer) => {
      const m = REQUEST_LINE.exec(chunk.subarray(0, 4096).toString('latin1'));
      if (m) {
        const line = `${m[1]} ${decodeURIComponent(m[2]!)}`;
        proxy.requests.push(line);
        const cut = proxy.cut;
        watched = cut && cut.request.test(line) ? { cut, line, bytes: 0 } : null;
        if (watched?.cut.direction === 'upload') {
          const head = chunk.indexOf('\r\n\r\n');
          if (head >= 0 && count(chunk.length - head - 4, 'upload')) return;
          upstream.write(chunk);
          return;
        }
      } else if (count(chunk.length, 'upload')) return;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (count(chunk.length, 'download')) return;
      client.write(chunk);
    });
    client.on('error', end).on('close', () => {
      open.delete(client);
      end();
    });
    // A stalled connection does not hear the engine close it either.
    upstream.on('error', end).on('close', () => {
      if (!stalled) end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve(
        Object.assign(proxy, {
          server,
          port,
          address: `tcp://127.0.0.1:${port}`,
          close: () =>
            new Promise<void>((r) => {
              server.close(() => r());
              for (const c of open) c.destroy();
            }),
        }),
      );
    });
  });
}

// A unix-socket proxy in front of the real engine's socket, for tests that
// need to watch or hold back what a client sends (point DOCKER_HOST at it).
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { DEFAULT_SOCKET } from '../../../src/engine/connect.js';

export interface EngineProxy {
  server: Server;
  /** Stops listening and drops the open (keep-alive) connections. */
  close(): Promise<void>;
}

/**
 * Listens on `path`; every chunk a client sends goes through `forward`
 * (default: straight to the engine), every answer straight back.
 */
export function engineProxy(
  path: string,
  forward: (chunk: Buffer, upstream: Socket, client: Socket) => void = (chunk, upstream) => void upstream.write(chunk),
): Promise<EngineProxy> {
  const open = new Set<Socket>();
  const server = createServer((client: Socket) => {
    open.add(client);
    const upstream = createConnection(DEFAULT_SOCKET);
    client.on('data', (chunk) => forward(chunk, upstream, client));
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', () => {
      open.delete(client);
      end();
    });
    upstream.on('error', end).on('close', end);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () =>
      resolve({
        server,
        close: () =>
          new Promise((r) => {
            server.close(() => r());
            for (const c of open) c.destroy();
          }),
      }),
    );
  });
}

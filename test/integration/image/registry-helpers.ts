// A real registry for the pull tests: Debian's docker-registry on 127.0.0.1
// with a random free port and a temporary storage directory, plus a small
// bearer-token front (also on 127.0.0.1) that demands a token the way Docker
// Hub does before passing requests through to it.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.status < 500,
      () => false,
    );
    if (ok) return;
    if (Date.now() > end) throw new Error(`registry did not answer at ${url}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface LocalRegistry {
  host: string;
  stop(): Promise<void>;
}

export async function startRegistry(dir: string): Promise<LocalRegistry> {
  const port = await freePort();
  const config = join(dir, 'registry.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'storage')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitFor(`http://127.0.0.1:${port}/v2/`);
  } catch (err) {
    child.kill('SIGTERM');
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  return {
    host: `127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A front that answers 401 + Bearer challenge unless the token from /token is shown. */
export interface TokenFront {
  host: string;
  tokensIssued: () => number;
  /** When set, blob bodies are altered on the way through (one byte flipped). */
  corruptBlobs: boolean;
  stop(): Promise<void>;
}

export async function startTokenFront(upstream: string): Promise<TokenFront> {
  const port = await freePort();
  const token = 'ndt-test-token';
  let issued = 0;
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/token')) {
      issued++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token }));
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="ndt-test",scope="repository:ndt/pulled:pull"`,
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED' }] }));
      return;
    }
    const [h, p] = upstream.split(':');
    const corrupt = front.corruptBlobs && /\/blobs\/sha256:/.test(req.url ?? '');
    const up = request(
      { host: h, port: Number(p), path: req.url, method: req.method, headers: { ...req.headers, host: upstream } },
      (u) => {
        res.writeHead(u.statusCode ?? 502, u.headers);
        if (!corrupt) return void u.pipe(res);
        let first = true;
        u.on('data', (c: Buffer) => {
          if (first && c.length > 0) c[c.length - 1] = c[c.length - 1]! ^ 0xff;
          first = false;
          res.write(c);
        });
        u.on('end', () => res.end());
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const front: TokenFront = {
    host: `127.0.0.1:${port}`,
    tokensIssued: () => issued,
    corruptBlobs: false,
    stop: () => new Promise((r) => server.close(() => r())),
  };
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return front;
}

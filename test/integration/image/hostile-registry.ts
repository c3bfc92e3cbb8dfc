// A registry that misbehaves on purpose, for the pull tests: a plain HTTP
// server on 127.0.0.1 serving one image (one uncompressed layer) by the
// registry API v2, whose manifest, config and layer answers a test can
// replace (endless bodies, lying sizes, a byte per second, hostile digests).
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { END_OF_ARCHIVE, entryHeader, padding } from '../../../src/image/tar-writer.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface HostileRegistry {
  host: string;
  /** The image name to pull (host/hostile/img). */
  name: string;
  /** The manifest's digest (of `manifest`, as served unless `onManifest` is set). */
  digest: string;
  layer: Buffer;
  config: Buffer;
  /** Requests seen, by path. */
  seen: string[];
  /** Replace the answer for a blob (by digest) or the manifest. */
  onBlob: Map<string, Handler>;
  /** Serve this manifest object instead (its digest is returned). */
  serveManifest(manifest: unknown): string;
  stop(): Promise<void>;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function layerTar(): Buffer {
  const data = Buffer.from('hello from a hostile registry\n');
  const h = entryHeader({
    name: 'hello.txt',
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: 'root',
    gname: 'root',
    mtime: 1,
    size: data.length,
  });
  return Buffer.concat([h, data, padding(data.length), END_OF_ARCHIVE]);
}

export async function startHostileRegistry(): Promise<HostileRegistry> {
  const layer = layerTar();
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha(layer)] } }),
  );
  const manifestOf = (m: unknown) => Buffer.from(JSON.stringify(m));
  const standard = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
  };
  const manifests = new Map<string, Buffer>();
  const serveManifest = (m: unknown) => {
    const body = manifestOf(m);
    manifests.set(sha(body), body);
    return sha(body);
  };
  const digest = serveManifest(standard);
  const blobs = new Map([
    [sha(config), config],
    [sha(layer), layer],
  ]);
  const reg = { seen: [] as string[], onBlob: new Map<string, Handler>() };
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    reg.seen.push(url);
    if (url === '/v2/') return void res.end('{}');
    const m = /^\/v2\/hostile\/img\/(manifests|blobs)\/(.+)$/.exec(url);
    const key = m ? decodeURIComponent(m[2]!) : '';
    const custom = reg.onBlob.get(key);
    if (custom) return custom(req, res);
    const body = m?.[1] === 'manifests' ? manifests.get(key) : blobs.get(key);
    if (!body) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end('{"errors":[{"code":"NOT_FOUND"}]}');
    }
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    name: `${host}/hostile/img`,
    digest,
    layer,
    config,
    ...reg,
    serveManifest,
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Sends `chunk` every `everyMs` until the client goes away (an endless or a slow body). */
export function drip(chunk: Buffer, everyMs: number, headers: Record<string, string | number> = {}): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
    res.flushHeaders();
    const t = setInterval(() => {
      if (res.destroyed) return clearInterval(t);
      res.write(chunk);
    }, everyMs);
    res.on('close', () => clearInterval(t));
  };
}

/** Writes as fast as the client reads, forever. */
export function endless(headers: Record<string, string | number> = {}): Handler {
  const block = Buffer.alloc(64 * 1024, 0x61);
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
    const more = () => {
      while (!res.destroyed && res.write(block));
      if (!res.destroyed) res.once('drain', more);
    };
    more();
  };
}

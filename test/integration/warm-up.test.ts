// The sidecar starts the engine's ping and GET /version right after its
// hello (src/runner/preflight.ts warmUpEngine); the first op takes them over
// instead of asking again, and an engine that was not up at the warm-up is
// asked afresh. A unix-socket proxy in front of the real engine counts the
// requests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { beginConnect, connectChecked, warmUpEngine } from '../../src/runner/job/preflight.js';
import { engineProxy, type EngineProxy } from './helpers/engine-proxy.js';

interface CountingProxy extends EngineProxy {
  /** Request lines seen, e.g. "GET /_ping". */
  requests: string[];
}

async function countingProxy(path: string): Promise<CountingProxy> {
  const requests: string[] = [];
  const proxy = await engineProxy(path, (chunk, upstream) => {
    for (const m of chunk.toString('latin1').matchAll(/^(GET|POST|HEAD|DELETE|PUT) (\S+) HTTP/gm)) {
      requests.push(`${m[1]} ${m[2]!.replace(/^\/v[\d.]+/, '')}`);
    }
    upstream.write(chunk);
  });
  return { ...proxy, requests };
}

describe('engine warm-up (real engine behind a counting proxy)', () => {
  const saved = process.env.DOCKER_HOST;
  let dir = '';
  let proxy: CountingProxy | null = null;

  afterEach(async () => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
    await proxy?.close();
    proxy = null;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function socketPath(): string {
    dir = mkdtempSync(join(tmpdir(), 'ndt-warm-'));
    const path = join(dir, 'engine.sock');
    process.env.DOCKER_HOST = `unix://${path}`;
    return path;
  }

  it('the first connection after a warm-up sends no ping or version request of its own', async () => {
    proxy = await countingProxy(socketPath());
    warmUpEngine();
    await new Promise((r) => setTimeout(r, 200)); // the plugin's request arrives a little later
    const seen = proxy.requests.length;
    expect(proxy.requests.filter((r) => r.startsWith('GET /_ping') || r.startsWith('GET /version'))).toHaveLength(2);
    const { version } = await connectChecked();
    expect(version.engine).toBe('docker');
    expect(proxy.requests.slice(seen)).toEqual([]);
    // It is taken once: the next connection asks again.
    await connectChecked();
    expect(proxy.requests.slice(seen).filter((r) => r.startsWith('GET /_ping'))).toHaveLength(1);
  });

  it('an engine that was not answering at the warm-up is asked again, and reported if it still is not', async () => {
    const path = socketPath();
    warmUpEngine(); // nothing listens yet
    await new Promise((r) => setTimeout(r, 100));
    proxy = await countingProxy(path);
    const { version } = await connectChecked();
    expect(version.engine).toBe('docker');
    expect(proxy.requests.filter((r) => r.startsWith('GET /_ping'))).toHaveLength(1);

    await proxy.close();
    proxy = null;
    warmUpEngine();
    const conn = beginConnect();
    await expect(conn.answered).rejects.toMatchObject({ code: 'engine_unavailable' });
    await expect(conn.version).rejects.toMatchObject({ code: 'engine_unavailable' });
  });
});

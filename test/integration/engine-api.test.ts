// The Engine API as the runner speaks it, watched through a proxy in front of
// the real engine: requests pinned to the negotiated API version, an engine
// older than the oldest supported API refused, and a build's container left
// to the engine's AutoRemove (no DELETE racing it) yet never left behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectChecked } from '../../src/runner/job/preflight.js';
import { runJob } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { MAX_API_VERSION, MIN_API_VERSION, negotiateApiVersion } from '../../src/engine/version.js';
import { LABEL } from '../../src/engine/labels.js';
import { docker, noContainersSoon, recorder, useExample } from './helpers/example.js';
import { engineProxy, type EngineProxy } from './helpers/engine-proxy.js';

const REQUEST_LINE = /^(GET|HEAD|POST|PUT|DELETE) (\S+) HTTP\/1\.[01]\r$/gm;

describe('Engine API version and container removal (real engine, through a proxy)', () => {
  const fx = useExample('ndt-api-');
  const dir = mkdtempSync(join(tmpdir(), 'ndt-api-sock-'));
  const sock = join(dir, 'docker.sock');
  const requests: string[] = [];
  /** When set, GET /version is answered with this ApiVersion instead of the engine's. */
  let fakeApi: string | null = null;
  let proxy: EngineProxy;
  let engineApi = '';
  const saved = process.env.DOCKER_HOST;

  beforeAll(async () => {
    engineApi = String(((await docker.version()) as { ApiVersion?: string }).ApiVersion);
    proxy = await engineProxy(sock, (chunk, upstream, client) => {
      const text = chunk.toString('latin1');
      const lines = [...text.matchAll(REQUEST_LINE)].map((m) => `${m[1]} ${m[2]}`);
      requests.push(...lines);
      if (fakeApi && lines.length === 1 && /^GET (\/v[\d.]+)?\/version$/.test(lines[0]!)) {
        const body = JSON.stringify({ Version: '1.13.1', ApiVersion: fakeApi, Os: 'linux', Arch: 'amd64', KernelVersion: '6.1.0' });
        client.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        return;
      }
      upstream.write(chunk);
    });
    process.env.DOCKER_HOST = `unix://${sock}`;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("negotiates: the lower of the engine's API and the newest known; none below the oldest supported", () => {
    expect(negotiateApiVersion('1.41')).toBe('1.41');
    expect(negotiateApiVersion('1.47')).toBe(MAX_API_VERSION);
    expect(negotiateApiVersion(MIN_API_VERSION)).toBe(MIN_API_VERSION);
    expect(negotiateApiVersion('1.24')).toBeNull();
    expect(negotiateApiVersion('')).toBeNull();
  });

  it("a build pins every request after GET /version to the engine's API version and sends no DELETE for its container, which is gone all the same", async () => {
    requests.length = 0;
    const ctx = recorder(true);
    const res = await runJob('build', parseJobSpec(fx.ex.spec()), ctx);
    fx.volumes.push(res.volume);
    await ctx.cleanup.runAll(); // what the sidecar's exit waits for: the container's removal
    const pinned = `/v${negotiateApiVersion(engineApi)}/`;
    expect(requests.filter((r) => /^GET (\/v[\d.]+)?\/version$/.test(r))).toHaveLength(1);
    // A few requests go out unversioned while GET /version is awaited; the job's own work comes after.
    const create = requests.findIndex((r) => /^POST \S*\/containers\/create/.test(r));
    expect(create).toBeGreaterThan(0);
    expect(requests.slice(create).filter((r) => !r.split(' ')[1]!.startsWith(pinned))).toEqual([]);
    expect(requests.filter((r) => r.startsWith('DELETE ') && r.includes('/containers/'))).toEqual([]);
    // The artifact came through the FIFO directory's drop directory, not through an archive request.
    expect(res.output).toBe('fifo');
    expect(requests.filter((r) => /^GET \S*\/containers\/[^/]+\/archive/.test(r))).toEqual([]);
    expect(await noContainersSoon({ [LABEL.volume]: res.volume }, 1000)).toEqual([]);
  });

  it('refuses an engine older than the oldest supported API, saying what it needs', async () => {
    fakeApi = '1.24';
    try {
      const err = await connectChecked().then(
        () => null,
        (e: unknown) => e as { code?: string; message?: string; hint?: string },
      );
      expect(err?.code).toBe('engine_version');
      expect(err?.message).toContain(`speaks Engine API 1.24; the runner needs API ${MIN_API_VERSION} or newer`);
      expect(err?.hint).toMatch(/Upgrade the engine to Docker 1\.13 or newer/);
    } finally {
      fakeApi = null;
    }
  });
});

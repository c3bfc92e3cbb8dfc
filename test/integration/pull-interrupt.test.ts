// Interrupting a job while the engine pulls its image (the CLI's Ctrl-C, a
// cancel): the job ends at once as interrupted, the pull's connection closed,
// instead of waiting for a registry that does not answer. The registry is a
// server of the test's own on 127.0.0.1 (the engine pulls from loopback over
// plain HTTP) that answers /v2/ and never answers the manifest.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { recorder, requireEngine, useExample } from './helpers/example.js';

describe('a job interrupted while the engine pulls its image', () => {
  const fx = useExample('ndt-pull-interrupt-');
  let server: Server;
  let port: number;
  const stalled: Array<() => void> = [];

  beforeAll(async () => {
    await requireEngine();
    server = createServer((req, res) => {
      if (req.url === '/v2/' || req.url === '/v2') {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Docker-Distribution-API-Version': 'registry/2.0' });
        res.end('{}');
        return;
      }
      // The manifest: never answered while the test runs.
      stalled.push(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const end of stalled) end();
    await new Promise((resolve) => server.close(resolve));
  });

  it('ends within seconds as interrupted', async () => {
    const ctx = recorder();
    const spec = parseJobSpec(fx.ex.spec({ docker: { dockerfile: '/nonexistent/Dockerfile', tag: `127.0.0.1:${port}/ndt-stalled:1` } }));
    const job = runJob('build', spec, ctx).then(
      () => null,
      (e: unknown) => e,
    );
    // Once the pull has reached the registry's manifest, interrupt.
    const until = Date.now() + 30_000;
    while (stalled.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(stalled.length).toBeGreaterThan(0);
    const t0 = Date.now();
    ctx.controller.abort();
    const err = await Promise.race([job, new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000))]);
    expect(err).toMatchObject({ code: 'interrupted' });
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 60_000);
});

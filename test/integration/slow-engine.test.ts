// An engine that answers slowly must not make the runner give up early: a
// proxy in front of the real engine's socket holds every request for a
// while, and the build still completes.
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { engineProxy, type EngineProxy } from './helpers/engine-proxy.js';
import { recorder, useExample } from './helpers/example.js';

const DELAY_MS = 400;

/** A proxy to the engine that delays every chunk a client sends by DELAY_MS. */
function slowProxy(path: string): Promise<EngineProxy> {
  const chains = new WeakMap<Socket, Promise<void>>();
  return engineProxy(path, (chunk, upstream, client) => {
    client.pause();
    const chain = (chains.get(client) ?? Promise.resolve()).then(
      () =>
        new Promise<void>((r) =>
          setTimeout(() => {
            upstream.write(chunk);
            client.resume();
            r();
          }, DELAY_MS),
        ),
    );
    chains.set(client, chain);
  });
}

describe('a slow engine (real engine behind a delaying proxy)', () => {
  const fx = useExample('ndt-slow-');
  const dir = mkdtempSync(join(tmpdir(), 'ndt-slowsock-'));
  const sock = join(dir, 'docker.sock');
  let proxy: EngineProxy;
  const saved = process.env.DOCKER_HOST;
  beforeAll(async () => {
    proxy = await slowProxy(sock);
    process.env.DOCKER_HOST = `unix://${sock}`;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`completes a build whose every request waits ${DELAY_MS} ms`, async () => {
    const t0 = Date.now();
    const res = await runJob('build', parseJobSpec(fx.ex.spec({ make_args: ['SLEEP=2'] })), recorder(true));
    fx.volumes.push(res.volume);
    expect(res.steps.map((s) => s.status)).toEqual([0, 0, 0, 0]);
    // It was slow indeed: many requests, each held back.
    expect(Date.now() - t0).toBeGreaterThan(10 * DELAY_MS);
  }, 240_000);
});

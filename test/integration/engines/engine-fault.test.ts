// The engine stops in the middle of a step: a clear error within 10 s, no
// hang, nothing half-written; once the engine is back the next build works.
// Runs on a private dockerd (scripts/test-engines/tls-dockerd) so that the
// machine's own engine, and the other tests, are not disturbed.
import { mkdtempSync, readdirSync } from 'node:fs';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob } from '../../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../../src/runner/spec.js';
import { OpError } from '../../../src/errors.js';
import { copyExample, docker, NEW_TAG, recorder, type Example } from '../helpers/example.js';
import { ensureExampleImages } from '../helpers/images.js';
import { copyImage, engineScript, freePort, hasCommand, withEngineEnv } from './engine-helpers.js';

describe('engine faults (private dockerd)', () => {
  let dir = '';
  let port = 0;
  let ex: Example;
  let engine: Docker;
  const env = () => ({ DOCKER_HOST: `unix://${dir}/docker.sock` });

  beforeAll(async () => {
    await ensureExampleImages([NEW_TAG]); // copied from the main engine below
    for (const cmd of ['dockerd', 'openssl', 'curl'])
      if (!hasCommand(cmd)) throw new Error(`${cmd} is not installed: scripts/setup --test installs it`);
    // Short: containerd's sockets live under it.
    dir = mkdtempSync('/tmp/ndtf-');
    port = await freePort();
    await engineScript('tls-dockerd', 'start', dir, String(port));
    engine = new Docker({ socketPath: `${dir}/docker.sock` });
    await copyImage(docker, engine, NEW_TAG);
    ex = copyExample('ndt-fault-');
  }, 180_000);

  afterAll(async () => {
    if (dir) await engineScript('tls-dockerd', 'stop', dir);
    ex?.remove();
  }, 120_000);

  it('an engine stopped during make: a clear error within 10 s; after a restart the next build works', async () => {
    const ctx = recorder(true);
    let failedAt = 0;
    const running = withEngineEnv(env(), () => runJob('build', parseJobSpec(ex.spec({ make_args: ['SLEEP=60'] })), ctx)).catch(
      (e: unknown) => {
        failedAt = Date.now();
        return e;
      },
    );
    while (!(ctx.of('headline') as string[]).some((h) => h.includes('Sleeping'))) await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await engineScript('tls-dockerd', 'halt', dir);
    const err = await running;
    const elapsed = failedAt - t0;
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).code).toMatch(/^engine_(lost|unavailable)$|^container_stopped$/);
    expect((err as OpError).message).toMatch(/"make" step/);
    expect((err as OpError).hint).toMatch(/build volume example_system-\w+ is kept/);
    // The error came within 10 s of asking the engine to stop.
    expect(elapsed).toBeGreaterThan(0);
    expect(elapsed).toBeLessThan(10_000);
    expect(readdirSync(ex.dl).filter((f) => f.endsWith('.tar.gz'))).toEqual([]);

    await engineScript('tls-dockerd', 'start', dir, String(port));
    const res = await withEngineEnv(env(), () => runJob('build', parseJobSpec(ex.spec()), recorder(true)));
    expect(res.steps.every((s) => s.status === 0)).toBe(true);
    await withEngineEnv(env(), async () => {
      await engine
        .getVolume(res.volume)
        .remove()
        .catch(() => {});
    });
  }, 240_000);
});

// The runner against a real Podman: `podman system service` on a private
// socket with its own storage (scripts/test-engines/podman-service), the
// example image loaded into it, then the full build and clean through
// DOCKER_HOST. Needs root and podman (scripts/setup --test installs it); on a
// machine where Podman cannot run, this fails and says why.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import semver from 'semver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectChecked } from '../../../src/runner/job/preflight.js';
import { copyExample, docker as mainEngine, NEW_TAG, recorder, type Example } from '../helpers/example.js';
import { runJob } from '../../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../../src/runner/spec.js';
import { ensureExampleImages } from '../helpers/images.js';
import { buildExample, cleanExample, copyImage, engineScript, hasCommand, noContainersSoon, withEngineEnv } from './engine-helpers.js';

describe('Podman (podman system service)', () => {
  let dir = '';
  let sock = '';
  let podman: Docker;
  let ex: Example | undefined;
  let volume = '';

  beforeAll(async () => {
    await ensureExampleImages([NEW_TAG]); // copied from the main engine below
    if (process.getuid?.() !== 0)
      throw new Error('the Podman test starts a rootful `podman system service`: run it as root (make test on the Debian test machine)');
    if (!hasCommand('podman'))
      throw new Error(
        'podman is not installed: `apt-get install -y podman` (scripts/setup --test installs the packages in scripts/test-apt-packages.txt)',
      );
    // Short path: Podman and conmon put sockets under it.
    dir = mkdtempSync('/tmp/ndt-pm-');
    sock = join(dir, 'podman.sock');
    await engineScript('podman-service', 'start', dir);
    podman = new Docker({ socketPath: sock });
    await copyImage(mainEngine, podman, NEW_TAG);
    ex = copyExample('ndt-podman-');
  }, 120_000);

  afterAll(async () => {
    if (dir) await engineScript('podman-service', 'stop', dir);
    ex?.remove();
  }, 60_000);

  const env = () => ({ DOCKER_HOST: `unix://${sock}` });

  it('is recognised as Podman >= 4.0 by the version check, found through DOCKER_HOST', async () => {
    const { engine, version } = await withEngineEnv(env(), () => connectChecked());
    expect(engine.how).toBe('DOCKER_HOST');
    expect(engine.where).toBe(`unix://${sock}`);
    expect(engine.remote).toBe(false);
    expect(version.engine).toBe('podman');
    expect(semver.gte(semver.coerce(version.version) ?? '0.0.0', '4.0.0')).toBe(true);
  });

  it('builds the example: artifact copied out, the volume on Podman, no container left', async () => {
    const result = await withEngineEnv(env(), () => buildExample(ex!, podman));
    volume = result.volume;
    // The volume is Podman's, not the main engine's.
    const mainVolumes = (await mainEngine.listVolumes()).Volumes ?? [];
    expect(mainVolumes.map((v) => v.Name)).not.toContain(volume);
    expect(await noContainersSoon(podman, {})).toEqual([]);
  });

  it('rebuilds on the same volume (attach, execs and archive copy again)', async () => {
    const again = await withEngineEnv(env(), () => buildExample(ex!, podman));
    expect(again.volume).toBe(volume);
  });

  it('copies the inputs into volumes on Podman (forced copy) and builds, then copies nothing again', async () => {
    const first = await withEngineEnv(env(), () => runJob('build', parseJobSpec(ex!.spec({ inputs: 'copy' })), recorder(true)));
    expect(first.inputs).toBe('copy');
    expect(first.volume).toBe(volume);
    const ctx = recorder(true);
    const again = await withEngineEnv(env(), () => runJob('build', parseJobSpec(ex!.spec({ inputs: 'copy' })), ctx));
    expect(again.size).toBe(first.size);
    expect((ctx.of('info') as string[]).some((t) => t.startsWith('sent 0 files'))).toBe(true);
    const names = ((await podman.listVolumes()).Volumes ?? []).map((v) => v.Name);
    expect(names).toEqual(expect.arrayContaining([`${volume}-platform`, `${volume}-package`]));
    expect(await noContainersSoon(podman, {})).toEqual([]);
  });

  it('cleans: the volume is removed and no container is left', async () => {
    expect(volume).not.toBe('');
    await withEngineEnv(env(), () => cleanExample(ex!, podman, volume));
    expect(await noContainersSoon(podman, {})).toEqual([]);
    const names = ((await podman.listVolumes()).Volumes ?? []).map((v) => v.Name);
    expect(names.filter((n) => n.startsWith(volume))).toEqual([]); // the copied inputs' volumes too
  });
});

describe('Podman with its default ulimits, where process limits cannot be raised', () => {
  let dir = '';
  let sock = '';
  let ex: Example | undefined;

  beforeAll(async () => {
    await ensureExampleImages([NEW_TAG]);
    if (process.getuid?.() !== 0)
      throw new Error('the Podman test starts a rootful `podman system service`: run it as root (make test on the Debian test machine)');
    if (!hasCommand('podman'))
      throw new Error(
        'podman is not installed: `apt-get install -y podman` (scripts/setup --test installs the packages in scripts/test-apt-packages.txt)',
      );
    dir = mkdtempSync('/tmp/ndt-pmu-');
    sock = join(dir, 'podman.sock');
    const saved = process.env.NDT_PODMAN_DEFAULT_ULIMITS;
    process.env.NDT_PODMAN_DEFAULT_ULIMITS = '1';
    try {
      await engineScript('podman-service', 'start', dir);
    } finally {
      if (saved === undefined) delete process.env.NDT_PODMAN_DEFAULT_ULIMITS;
      else process.env.NDT_PODMAN_DEFAULT_ULIMITS = saved;
    }
    await copyImage(mainEngine, new Docker({ socketPath: sock }), NEW_TAG);
    ex = copyExample('ndt-podman-ulimits-');
  }, 120_000);

  afterAll(async () => {
    if (dir) await engineScript('podman-service', 'stop', dir);
    ex?.remove();
  }, 60_000);

  it('the first build fails with the fix of the known failure, not only the raw OCI error', async () => {
    const err = await withEngineEnv({ DOCKER_HOST: `unix://${sock}` }, () =>
      runJob('build', parseJobSpec(ex!.spec()), recorder(true)),
    ).then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string; hint?: string },
    );
    expect(err?.message).toMatch(/error setting rlimit type \d+: operation not permitted/);
    expect(err?.code).toMatch(/^container_(create|start)$/);
    expect(err?.hint).toMatch(/default_ulimits = \["nofile=1024:1024", "nproc=1024:1024"\]/);
    expect(await noContainersSoon(new Docker({ socketPath: sock }), {})).toEqual([]);
  });
});

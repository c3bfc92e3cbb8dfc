// The build runner against the real engine, on a private copy of the example
// system: build, rebuild, make_args, failures, legacy images, archive, clean.
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runClean } from '../../src/runner/clean.js';
import { runJob, type JobResult } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { OpError } from '../../src/errors.js';
import { LABEL } from '../../src/engine/labels.js';
import {
  containersOf,
  docker,
  noContainersSoon,
  LEGACY_TAG,
  NEW_TAG,
  recorder,
  ROOT,
  useExample,
  type Example,
} from './helpers/example.js';

function tarList(path: string, verbose = false): string[] {
  return execFileSync('tar', [verbose ? '-tvzf' : '-tzf', path, '--numeric-owner'], { encoding: 'utf8' })
    .trim()
    .split('\n');
}

async function expectError(p: Promise<unknown>, code: string): Promise<OpError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpError);
  expect((err as OpError).code).toBe(code);
  return err as OpError;
}

describe('build runner (real engine)', () => {
  const fx = useExample();
  const volumes = fx.volumes;
  let ex: Example;
  beforeAll(() => {
    ex = fx.ex;
  });

  let first: JobResult;

  it('builds the example: artifact in the download dir, headlines in order, every byte in build.log, no container left', async () => {
    const ctx = recorder(true);
    first = await runJob('build', parseJobSpec(ex.spec()), ctx);
    volumes.push(first.volume);
    const artifact = join(ex.dl, 'example_system-portable-0.1.0-ABCDEF1.tar.gz');
    expect(first.path).toBe(artifact);
    const files = tarList(artifact);
    const top = 'example_system-portable-0.1.0-ABCDEF1/';
    expect(files.every((f) => f.startsWith(top))).toBe(true);
    for (const f of ['nerves-system.tag', 'nerves-env.sh', 'nerves.mk', 'images/rootfs.img', '.config', 'target-greeting']) {
      expect(files).toContain(top + f);
    }
    // No temporary file next to it.
    expect(readdirSync(ex.dl)).toEqual(['example_system-portable-0.1.0-ABCDEF1.tar.gz']);
    expect(first.steps.map((s) => s.name)).toEqual(['create-build', 'make', 'make system', 'copy']);
    expect(first.legacy).toBe(false);
    expect(first.output).toBe('fifo'); // the engine runs on this kernel
    // The FIFO directory goes just after the reply; the sidecar's cleanup (run before it exits) waits for it.
    await ctx.cleanup.runAll();
    expect(
      readdirSync(join(ex.system, '.nerves/artifacts/example_system-portable-0.1.0')).filter((n) => n.startsWith('.ndt-output-')),
    ).toEqual([]);

    const headers = ctx.of('header');
    expect(headers).toEqual(
      expect.arrayContaining([
        'Starting Build... (this may take a while)',
        'Creating artifact archive',
        'Copying artifact archive to host',
      ]),
    );
    const headlines = ctx.of('headline') as string[];
    expect(headlines[0]).toBe('>>> busybox 1.36.1 Extracting');
    expect(headlines).toContain('>>> erlang 27.2 Building');
    const log = readFileSync(join(ex.dir, 'build.log'), 'utf8');
    // build.log has every headline, in the same order, and the plain lines too.
    const logHeadlines = log
      .split('\n')
      .filter((l) => l.startsWith('>>>'))
      .map((l) => l.trim());
    expect(headlines).toEqual(logHeadlines);
    expect(log.length).toBeGreaterThan(headlines.join('\n').length);
    expect(first.log_size).toBe(Buffer.byteLength(log));
    expect(await noContainersSoon({ [LABEL.volume]: first.volume })).toEqual([]);
  });

  it('reuses the volume on the next build: same .docker_id, the build dir survives, make_args reach make', async () => {
    const idFile = join(ex.system, '.nerves/artifacts/example_system-portable-0.1.0/.docker_id');
    const id = readFileSync(idFile, 'utf8');
    expect(id).toMatch(/^[A-Za-z0-9_]{16}$/);
    const ctx = recorder(true);
    const second = await runJob('build', parseJobSpec(ex.spec({ make_args: ['GREETING=hi from make_args; `id` $$(echo no)'] })), ctx);
    expect(readFileSync(idFile, 'utf8')).toBe(id);
    expect(second.volume).toBe(first.volume);
    // The counter in the build dir went up: the tree survived.
    const out = execFileSync('tar', ['-xzOf', second.path, 'example_system-portable-0.1.0-ABCDEF1/target-greeting'], { encoding: 'utf8' });
    // make turns $$ into $; nothing ran the backticks or the $(...).
    expect(out.trim()).toBe('hi from make_args; `id` $(echo no)');
    expect((await volumeExec(second.volume, ['cat', '/v/build-count'])).trim()).toBe('2');
    expect(ctx.prompts).toEqual([]); // the image exists now: no question
  });

  it('archive runs make system and copies the artifact (archive.log)', async () => {
    rmSync(ex.dl, { recursive: true, force: true });
    const ctx = recorder(true);
    const res = await runJob('archive', parseJobSpec(ex.spec()), ctx);
    expect(res.steps.map((s) => s.name)).toEqual(['make system', 'copy']);
    expect(existsSync(res.path)).toBe(true);
    expect(existsSync(join(ex.dir, 'archive.log'))).toBe(true);
  });

  it('a failing step raises with the log tail, the step and its status, and leaves no artifact or container', async () => {
    rmSync(ex.dl, { recursive: true, force: true });
    const ctx = recorder(true);
    const err = await expectError(runJob('build', parseJobSpec(ex.spec({ make_args: ['FAIL=1'] })), ctx), 'step_failed');
    expect(err.message).toContain('The Nerves Docker build_runner encountered an error while building:');
    expect(err.message).toContain('build failed on purpose');
    expect(err.message).toMatch(/Step "make" exited with status 2/);
    expect(err.hint).toBe(`See ${join(ex.dir, 'build.log')}.`);
    const tail = err.message.split('\n-----\n')[1]!.split('\n-----\n')[0]!.split('\n');
    expect(tail.length).toBe(16);
    expect(tail.at(-1)).toMatch(/Error 2|make.*\*\*\*/);
    expect(existsSync(join(ex.dl, 'example_system-portable-0.1.0-ABCDEF1.tar.gz'))).toBe(false);
    expect(await noContainersSoon({ [LABEL.volume]: first.volume })).toEqual([]);
  });

  it('clean removes the volume and the cache; a second clean is not an error', async () => {
    const spec = ex.spec();
    execFileSync('mkdir', ['-p', spec.cache_path as string]);
    writeFileSync(join(spec.cache_path as string, 'x'), 'x');
    const ctx = recorder();
    const res = await runClean(
      { app: 'example_system', build_path: spec.build_path as string, cache_path: spec.cache_path as string },
      ctx,
    );
    expect(res.removed_volume).toBe(true);
    expect(ctx.of('header')).toEqual([`Deleting build volume ${first.volume}`]);
    expect(existsSync(spec.cache_path as string)).toBe(false);
    await expect(docker.getVolume(first.volume).inspect()).rejects.toMatchObject({ statusCode: 404 });
    const again = await runClean(
      { app: 'example_system', build_path: spec.build_path as string, cache_path: spec.cache_path as string },
      recorder(),
    );
    expect(again.removed_volume).toBe(false);
  });
});

/** Runs argv as root in a throwaway container with the volume at /v (read-only); returns its stdout. */
async function volumeExec(volume: string, argv: string[]): Promise<string> {
  const c = await docker.createContainer({
    Image: NEW_TAG,
    Entrypoint: argv,
    User: '0:0',
    HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: '/v', ReadOnly: true }] },
  });
  try {
    await c.start();
    await c.wait();
    const logs = await c.logs({ stdout: true, stderr: false });
    // Strip the 8-byte stream headers of the non-TTY log.
    let out = '';
    for (let i = 0; i + 8 <= logs.length;) {
      const n = logs.readUInt32BE(i + 4);
      out += logs.subarray(i + 8, i + 8 + n).toString('utf8');
      i += 8 + n;
    }
    return out;
  } finally {
    await c.remove({ force: true });
  }
}

/** `uid:gid path` of the volume's top entries. */
async function ownersInVolume(volume: string): Promise<string[]> {
  const out = await volumeExec(volume, ['/bin/sh', '-c', 'stat -c "%u:%g %n" /v /v/*']);
  return out.split('\n').filter(Boolean);
}

describe('legacy images (nerves_system_br < 1.28.0)', () => {
  const fx = useExample('ndt-legacy-');

  it('works in /nerves/build, chowns the volume to the host UID:GID first, and runs the steps as that user', async () => {
    const spec = fx.ex.spec({
      platform_version: '1.27.0',
      uid: 1234,
      gid: 2345,
      docker: { dockerfile: join(ROOT, 'examples/platform/support/docker/legacy/Dockerfile'), tag: LEGACY_TAG },
    });
    const res = await runJob('build', parseJobSpec(spec), recorder(true));
    const volume = res.volume;
    fx.volumes.push(volume);
    expect(res.legacy).toBe(true);
    expect(res.output).toBe('fifo'); // five steps, as uid 1234, through the entrypoint
    expect(res.steps.map((s) => s.name)).toEqual(['chown', 'create-build', 'make', 'make system', 'copy']);
    // The steps ran as 1234:2345 (through the image's entrypoint): the files they made in the volume are theirs.
    const owners = await ownersInVolume(volume);
    expect(owners).toContain('1234:2345 /v');
    expect(owners).toContain('1234:2345 /v/Makefile');
    expect(owners).toContain('1234:2345 /v/example_system-portable-0.1.0-ABCDEF1.tar.gz');
  });
});

describe('bad input and missing pieces: one clear error, nothing left behind', () => {
  const fx = useExample('ndt-bad-');
  let ex: Example;
  beforeAll(() => {
    ex = fx.ex;
  });

  it('a missing engine names the address it tried', async () => {
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    try {
      const err = await expectError(runJob('build', parseJobSpec(ex.spec()), recorder()), 'engine_unavailable');
      expect(err.message).toContain('unix:///nonexistent/docker.sock');
      expect(err.hint).toMatch(/DOCKER_HOST/);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  it('a missing image and "no" at the prompt', async () => {
    const ctx = recorder(false);
    const err = await expectError(
      runJob(
        'build',
        parseJobSpec(
          ex.spec({
            docker: {
              dockerfile: join(ROOT, 'examples/platform/support/docker/nerves_system_br/Dockerfile'),
              tag: 'localhost/ndt-never-built:1',
            },
          }),
        ),
        ctx,
      ),
      'image_declined',
    );
    expect(err.message).toBe('Unable to use Nerves Docker build_runner without image');
    expect(ctx.prompts).toEqual(['The Nerves Docker build_runner needs to create the image.\nProceed? ']);
    expect(existsSync(ex.dl) ? readdirSync(ex.dl) : []).toEqual([]);
    // The volume was not created either (it is created after the image is there), nor a container.
    const id = readFileSync(join(ex.system, '.nerves/artifacts/example_system-portable-0.1.0/.docker_id'), 'utf8');
    expect(await containersOf({ [LABEL.volume]: `example_system-${id}` })).toEqual([]);
    await expect(docker.getVolume(`example_system-${id}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('a missing defconfig', async () => {
    const err = await expectError(
      runJob('build', parseJobSpec(ex.spec({ defconfig: 'no_such_defconfig' })), recorder()),
      'defconfig_missing',
    );
    expect(err.message).toContain(join(ex.system, 'no_such_defconfig'));
  });

  it('a missing platform', async () => {
    const err = await expectError(
      runJob('build', parseJobSpec(ex.spec({ platform_path: join(ex.dir, 'nope') })), recorder()),
      'platform_missing',
    );
    expect(err.message).toContain(join(ex.dir, 'nope'));
  });

  it('an empty or corrupt .docker_id is replaced with a warning', async () => {
    const idFile = join(ex.system, '.nerves/artifacts/example_system-portable-0.1.0/.docker_id');
    execFileSync('mkdir', ['-p', join(idFile, '..')]);
    writeFileSync(idFile, '');
    const ctx = recorder();
    await expectError(runJob('build', parseJobSpec(ex.spec({ defconfig: 'missing' })), ctx), 'defconfig_missing');
    // defconfig is checked before the id: nothing was touched yet.
    expect(readFileSync(idFile, 'utf8')).toBe('');
    const missing = await expectError(
      runJob(
        'build',
        parseJobSpec(ex.spec({ docker: { dockerfile: '/nonexistent/Dockerfile', tag: 'localhost/ndt-never-built:2' } })),
        ctx,
      ),
      'dockerfile_missing',
    );
    // What the registry said (nothing listens on localhost's registry port here) is in the error, not only in build.log.
    expect(missing.message).toMatch(/Dockerfile \/nonexistent\/Dockerfile does not exist \(the pull: .*localhost/);
    expect(readFileSync(idFile, 'utf8')).toMatch(/^[A-Za-z0-9_]{16}$/);
    expect(ctx.of('warn').join('\n')).toMatch(/\.docker_id held nothing; making a new one/);
  });
});

describe('a build container removed from outside during a step', () => {
  const fx = useExample('ndt-removed-');

  it('fails within seconds as container_stopped, naming the step; no artifact, the volume kept', async () => {
    const ctx = recorder(true);
    const running = runJob('build', parseJobSpec(fx.ex.spec({ make_args: ['SLEEP=60'] })), ctx).catch((e: unknown) => e);
    while (!(ctx.of('headline') as string[]).some((h) => h.includes('Sleeping'))) await new Promise((r) => setTimeout(r, 50));
    const pkgLabel = { [LABEL.package]: 'example_system' };
    const mine = (await containersOf(pkgLabel)).filter((c) => c.Labels?.[LABEL.ownerPid] === String(process.pid));
    expect(mine).toHaveLength(1);
    const t0 = Date.now();
    await docker.getContainer(mine[0]!.Id).remove({ force: true });
    const err = await running;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).code).toBe('container_stopped');
    expect((err as OpError).message).toMatch(/"make" step/);
    const volume = (err as OpError).hint!.match(/example_system-\S+/)![0].replace(/[,.]$/, '');
    fx.volumes.push(volume);
    expect(await docker.getVolume(volume).inspect()).toBeTruthy();
    expect(readdirSync(fx.ex.dl).filter((f) => f.endsWith('.tar.gz'))).toEqual([]);
  }, 60_000);
});

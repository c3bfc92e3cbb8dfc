// Where the build image comes from, beyond a local tag or a Dockerfile: an
// image archive made by the toolkit (loaded), and a reference pinned by
// digest (pulled from a registry on 127.0.0.1 and checked), against the real
// engine and Debian's docker-registry.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayeredImage } from '../../src/image/index.js';
import { runJob } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { LABEL } from '../../src/engine/labels.js';
import { startRegistry, type LocalRegistry } from './image/registry-helpers.js';
import {
  copyExample,
  docker,
  noContainersSoon,
  recorder,
  removeVolumeQuietly,
  NEW_TAG,
  ROOT,
  requireEngine,
  type Example,
} from './helpers/example.js';
import { ensureExampleImages } from './helpers/images.js';

describe('image sources (real engine, local registry)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndt-imgsrc-'));
  const tag = `localhost/ndt-imgsrc-${process.pid}:1`;
  const archive = join(dir, 'image.tar');
  const images: string[] = [tag];
  const volumes: string[] = [];
  let ex: Example;
  let registry: LocalRegistry | undefined;

  beforeAll(async () => {
    await requireEngine();
    ex = copyExample('ndt-imgsrc-ex-');
    const rootfs = join(dir, 'rootfs');
    mkdirSync(rootfs);
    execFileSync('tar', ['-xf', join(ROOT, 'examples/platform/support/docker/rootfs.tar'), '-C', rootfs]);
    await buildLayeredImage({
      name: tag.split(':')[0]!,
      tag: '1',
      contents: [rootfs],
      config: { User: 'nerves', WorkingDir: '/home/nerves/project', Env: ['TERM=dumb'], Cmd: ['/bin/bash'] },
      fakeRootCommands: 'chown -R 1005:1005 /home/nerves',
      out: archive,
    });
  });

  afterAll(async () => {
    await registry?.stop();
    for (const v of volumes) await removeVolumeQuietly(v);
    for (const i of images)
      await docker
        .getImage(i)
        .remove({ force: true })
        .catch(() => {});
    ex?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an image archive made by the toolkit is loaded and used under its tag', async () => {
    const ctx = recorder(false); // no prompt may be needed
    const res = await runJob('build', parseJobSpec(ex.spec({ docker: { dockerfile: archive, tag } })), ctx);
    volumes.push(res.volume);
    expect(ctx.of('header')).toContain(`Loading image archive ${archive}`);
    expect(ctx.prompts).toEqual([]);
    expect(res.size).toBeGreaterThan(0);
  });

  it('an archive that does not hold the tag says what it holds', async () => {
    const err = await runJob(
      'build',
      parseJobSpec(ex.spec({ docker: { dockerfile: archive, tag: 'localhost/ndt-not-in-archive:9' } })),
      recorder(false),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'image_load', message: expect.stringContaining(`holds ${tag}`) });
  });

  it('a Dockerfile whose build fails says what the engine said, and leaves nothing behind', async () => {
    await ensureExampleImages([NEW_TAG]);
    const ctxDir = join(dir, 'failing-context');
    mkdirSync(ctxDir);
    writeFileSync(join(ctxDir, 'Dockerfile'), `FROM ${NEW_TAG}\nRUN echo building-step-ran && exit 3\n`);
    const failing = `localhost/ndt-imgsrc-failing-${process.pid}:1`;
    images.push(failing);
    const before = (await docker.listContainers({ all: true })).map((c) => c.Id);
    const err = await runJob(
      'build',
      parseJobSpec(ex.spec({ docker: { dockerfile: join(ctxDir, 'Dockerfile'), tag: failing } })),
      recorder(true),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'image_build',
      message: expect.stringMatching(/returned a non-zero code: 3/),
      hint: expect.stringContaining('build.log'),
    });
    expect((err as Error).message).not.toMatch(/not there/);
    expect(readFileSync(join(ex.dir, 'build.log'), 'utf8')).toContain('building-step-ran');
    // The engine's intermediate container is removed (forcerm), and no image is tagged.
    const after = (await docker.listContainers({ all: true })).map((c) => c.Id);
    expect(after.filter((id) => !before.includes(id))).toEqual([]);
    await expect(docker.getImage(failing).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('a digest-pinned reference is pulled and verified; a wrong digest fails cleanly', async () => {
    registry = await startRegistry(dir);
    const digestFile = join(dir, 'digest');
    execFileSync('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--digestfile',
      digestFile,
      `docker-archive:${archive}`,
      `docker://${registry.host}/ndt/example-br:v1`,
    ]);
    const digest = readFileSync(digestFile, 'utf8').trim();
    const pinned = `${registry.host}/ndt/example-br@${digest}`;
    images.push(pinned);
    const ctx = recorder(false);
    const res = await runJob('build', parseJobSpec(ex.spec({ docker: { dockerfile: '/nonexistent/Dockerfile', tag: pinned } })), ctx);
    expect(ctx.of('header')).toContain('Trying to pull image');
    // Per-layer progress reached the plugin.
    const progress = ctx.of('progress') as Array<{ text: string; layer: string }>;
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.some((p) => /layers\)$/.test(p.text) && p.layer !== '')).toBe(true);
    const info = await docker.getImage(pinned).inspect();
    expect(info.RepoDigests).toContain(pinned);
    expect(res.path).toMatch(/\.tar\.gz$/);

    const wrong = `${registry.host}/ndt/example-br@sha256:${'0'.repeat(64)}`;
    const err = await runJob(
      'build',
      parseJobSpec(ex.spec({ docker: { dockerfile: '/nonexistent/Dockerfile', tag: wrong } })),
      recorder(true),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'image_pull', hint: expect.stringContaining('pinned by digest') });
    expect(await noContainersSoon({ [LABEL.volume]: res.volume })).toEqual([]);
  });
});

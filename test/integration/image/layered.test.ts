import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFile, mkdir, writeFile, symlink, cp } from 'node:fs/promises';
import { join } from 'node:path';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import {
  buildLayeredImage,
  defaultEngine,
  exportImage,
  loadImageArchive,
  loadImageStream,
  streamLayeredImage,
} from '../../../src/image/index.js';
import { openEngine } from '../../../src/engine/connect.js';
import { OpError } from '../../../src/errors.js';
import { readTarFile } from '../../../src/image/tar-reader.js';
import { Cleanup, busyboxRootfs, docker, engineAnswers, loadArchive, run, runIn, tempDir } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const engine = await engineAnswers();
if (!engine) console.warn('SKIPPED image integration tests: the Docker engine does not answer on DOCKER_HOST / /var/run/docker.sock');

describe.skipIf(!engine)('buildLayeredImage against the engine and skopeo/umoci', () => {
  const cleanup = new Cleanup();
  let work: { path: string; remove(): Promise<void> };
  let rootfs: string;
  let app: string;

  beforeAll(async () => {
    work = await tempDir('ndt-layered-');
    rootfs = await busyboxRootfs(join(work.path, 'rootfs'));
    app = join(work.path, 'app');
    await mkdir(join(app, 'etc'), { recursive: true });
    await writeFile(join(app, 'etc', 'greeting'), 'hello from a layered image\n');
  });
  afterAll(async () => {
    await cleanup.run();
    await work?.remove();
  });

  it('builds a docker-archive that docker load accepts and that runs', async () => {
    const out = join(work.path, 'img.tar');
    const r = await buildLayeredImage({
      name: 'ndt-test/layered',
      tag: 't1',
      contents: [rootfs, app],
      config: { Cmd: ['/bin/cat', '/etc/greeting'] },
      out,
    });
    cleanup.images.add('ndt-test/layered:t1');
    expect(r.diffIds.length).toBe(3);
    const loaded = await loadArchive(out);
    expect(loaded).toContain('ndt-test/layered:t1');
    const inspect = await docker.getImage('ndt-test/layered:t1').inspect();
    expect(inspect.Id).toBe(r.imageId);
    expect((await runIn('ndt-test/layered:t1', undefined, cleanup)).output).toContain('hello from a layered image');
    const sk = JSON.parse((await run('skopeo', ['inspect', `docker-archive:${out}`])).stdout) as { Layers: string[] };
    expect(sk.Layers.length).toBe(3);
  });

  it('gives identical archives for builds in different directories', async () => {
    const sums: string[] = [];
    for (const sub of ['x', 'y/deeper']) {
      const d = join(work.path, sub);
      await mkdir(d, { recursive: true });
      await busyboxRootfs(join(d, 'rootfs'));
      await cp(app, join(d, 'app'), { recursive: true });
      const r = await buildLayeredImage({
        name: 'ndt-test/repro',
        contents: [join(d, 'rootfs'), join(d, 'app')],
        config: { Cmd: ['/bin/sh'] },
        out: join(d, 'img.tar'),
      });
      const { stdout } = await run('sha256sum', [join(d, 'img.tar')]);
      expect(`sha256:${stdout.split(' ')[0]}`).toBe(r.sha256);
      sums.push(`${r.sha256} ${r.imageId} ${r.imageTag}`);
    }
    expect(sums[0]).toBe(sums[1]);
  });

  it('rejects a 126-layer request clearly and writes nothing', async () => {
    const out = join(work.path, 'too-many.tar');
    await expect(buildLayeredImage({ name: 'ndt-test/many', contents: [rootfs], maxLayers: 126, out })).rejects.toThrow(
      /maxLayers must be at most 125 \(got 126\)/,
    );
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
  });

  it('links store-path contents into the root, runs extraCommands and layers by popularity', async () => {
    // A fake store: A -> B -> C, with references as absolute paths in files.
    const store = join(work.path, 'store');
    const p = (n: string) => join(store, `${n.repeat(32).slice(0, 32)}-pkg${n}`);
    const [A, B, C] = [p('a'), p('b'), p('c')];
    for (const [dir, ref] of [
      [A, B],
      [B, C],
      [C, ''],
    ] as const) {
      await mkdir(join(dir, 'share'), { recursive: true });
      await writeFile(join(dir, 'share', `${dir.slice(-4)}.txt`), `ref ${ref}\n`);
    }
    await symlink('/bin/busybox', join(A, 'share', 'sh-link')).catch(() => undefined);
    const out = join(work.path, 'store.tar');
    const r = await buildLayeredImage({
      name: 'ndt-test/store',
      tag: 't1',
      contents: [rootfs, A],
      storeDir: store,
      maxLayers: 3,
      extraCommands: 'mkdir -p tmp && echo extra > tmp/made-by-extra',
      config: { Cmd: ['/bin/sh', '-c', `cat /share/pkga.txt ${C}/share/pkgc.txt /tmp/made-by-extra`] },
      out,
    });
    cleanup.images.add('ndt-test/store:t1');
    // maxLayers 3 => 1 own layer for the most popular path, one shared, customisation
    expect(r.diffIds.length).toBe(3);
    await loadArchive(out);
    const res = await runIn('ndt-test/store:t1', undefined, cleanup);
    expect(res.output).toContain(`ref ${B}`);
    expect(res.output).toContain('ref \r\n');
    expect(res.output).toContain('extra');
    const cfg = JSON.parse((await run('skopeo', ['inspect', '--config', `docker-archive:${out}`])).stdout) as {
      history: { comment: string }[];
    };
    expect(cfg.history[0]!.comment).toBe(`store paths: ${C}`);
  });

  it("keeps fakeRootCommands' ownership changes in a layer of their own", async () => {
    const out = join(work.path, 'fakeroot.tar');
    const r = await buildLayeredImage({
      name: 'ndt-test/fakeroot',
      tag: 'f',
      contents: [rootfs],
      out,
      fakeRootCommands: 'mkdir -p ./home/alice && echo hi > ./home/alice/hello && chown -R 1000:1000 ./home/alice',
    });
    expect(r.diffIds.length).toBe(3);
    const flat = join(work.path, 'fakeroot-root.tar');
    await exportImage({ fromImage: out, out: flat });
    const owners = new Map<string, string>();
    for await (const e of readTarFile(flat)) owners.set(e.name, `${e.uid}:${e.gid}`);
    expect(owners.get('home/alice/hello')).toBe('1000:1000');
    expect(owners.get('bin/busybox')).toBe('0:0');
    await expect(
      buildLayeredImage({
        name: 'ndt-test/fakeroot',
        contents: [rootfs],
        extraCommands: 'echo about to fail; exit 4',
        out: join(work.path, 'x.tar'),
      }),
    ).rejects.toThrow(/extraCommands failed[\s\S]*about to fail/);
  });

  it('writes an OCI layout that skopeo copies and umoci unpacks', async () => {
    const out = join(work.path, 'oci');
    const r = await buildLayeredImage({
      name: 'ndt-test/oci',
      tag: 'v1',
      contents: [rootfs, app],
      config: { Cmd: ['/bin/sh'] },
      out,
      format: 'oci',
      compress: 'gzip',
    });
    const sk = JSON.parse((await run('skopeo', ['inspect', `oci:${out}:v1`])).stdout) as { Layers: string[]; Digest: string };
    expect(sk.Layers.length).toBe(3);
    expect(sk.Digest).toBe(r.sha256);
    await run('skopeo', ['copy', `oci:${out}:v1`, `docker-archive:${join(work.path, 'copied.tar')}:ndt-test/oci:copied`]);
    cleanup.images.add('ndt-test/oci:copied');
    expect(await loadArchive(join(work.path, 'copied.tar'))).toContain('ndt-test/oci:copied');
    expect((await runIn('ndt-test/oci:copied', ['/bin/cat', '/etc/greeting'], cleanup)).output).toContain('hello from a layered image');
    const bundle = join(work.path, 'bundle');
    await run('umoci', ['unpack', '--rootless', '--image', `${out}:v1`, bundle]);
    expect(await readFile(join(bundle, 'rootfs', 'etc', 'greeting'), 'utf8')).toContain('hello');
    // skopeo copy from the docker-archive output into another OCI layout
    const dockerOut = join(work.path, 'for-copy.tar');
    await buildLayeredImage({ name: 'ndt-test/oci', tag: 'v2', contents: [rootfs], out: dockerOut });
    await run('skopeo', ['copy', `docker-archive:${dockerOut}`, `oci:${join(work.path, 'oci2')}:v2`]);
    // a gzipped docker-archive (like nixpkgs' image.tar.gz) loads into the engine
    const gz = join(work.path, 'img.tar.gz');
    await buildLayeredImage({ name: 'ndt-test/oci', tag: 'gz', contents: [rootfs], out: gz, compress: 'gzip' });
    cleanup.images.add('ndt-test/oci:gz');
    expect(await loadArchive(gz)).toContain('ndt-test/oci:gz');
  });

  it('writes a reproducible oci-archive that skopeo reads', async () => {
    const a = await buildLayeredImage({
      name: 'ndt-test/ociarch',
      tag: 'a1',
      contents: [rootfs, app],
      out: join(work.path, 'one.oci.tar'),
      format: 'oci-archive',
    });
    const b = await buildLayeredImage({
      name: 'ndt-test/ociarch',
      tag: 'a1',
      contents: [rootfs, app],
      out: join(work.path, 'two.oci.tar'),
      format: 'oci-archive',
    });
    expect(a.sha256).toBe(b.sha256);
    const sk = JSON.parse((await run('skopeo', ['inspect', `oci-archive:${join(work.path, 'one.oci.tar')}:a1`])).stdout) as {
      Layers: string[];
    };
    expect(sk.Layers.length).toBe(3);
    // and it serves as fromImage, like an OCI layout directory does
    for (const base of [join(work.path, 'one.oci.tar'), join(work.path, 'oci')]) {
      const r = await buildLayeredImage({
        name: 'ndt-test/ociarch',
        tag: 'on-top',
        fromImage: base,
        contents: [app],
        out: join(work.path, `top-${base.length}.tar`),
      });
      expect(r.diffIds.length).toBe(5);
    }
  });

  it("streams straight into the engine's image load", async () => {
    const s = await streamLayeredImage({
      name: 'ndt-test/streamed',
      tag: 's1',
      contents: [rootfs, app],
      config: { Cmd: ['/bin/cat', '/etc/greeting'] },
    });
    cleanup.images.add('ndt-test/streamed:s1');
    const res = (await docker.loadImage(s.stream, { quiet: true })) as NodeJS.ReadableStream;
    let body = '';
    for await (const c of res) body += c.toString();
    expect(body).not.toMatch(/"error/);
    expect((await docker.getImage('ndt-test/streamed:s1').inspect()).Id).toBe(s.imageId);
    expect((await runIn('ndt-test/streamed:s1', undefined, cleanup)).output).toContain('hello from a layered image');
  });

  it('streams the same bytes every time, layers first and manifest.json last, that skopeo reads', async () => {
    const opts = { name: 'ndt-test/streamed', contents: [rootfs, app], config: { Cmd: ['/bin/sh'] } };
    const sums: string[] = [];
    const file = (n: number) => join(work.path, `streamed-${n}.tar`);
    for (const n of [1, 2]) {
      const s = await streamLayeredImage(opts);
      // the digests are found while the layers are written
      expect(() => s.imageId).toThrow(/read to the end/);
      await pipeline(s.stream, createWriteStream(file(n)));
      expect((await s.done).imageId).toBe(s.imageId);
      sums.push((await run('sha256sum', [file(n)])).stdout.split(' ')[0]!);
    }
    expect(sums[0]).toBe(sums[1]);
    const built = await buildLayeredImage({ ...opts, out: join(work.path, 'built.tar') });
    const s = await streamLayeredImage(opts);
    await pipeline(s.stream, createWriteStream(file(3)));
    expect(s.imageId).toBe(built.imageId);
    expect(s.imageTag).toBe(built.imageTag);
    expect(s.diffIds).toEqual(built.diffIds);
    const names = [];
    for await (const e of readTarFile(file(1))) names.push(e.name);
    expect(names).toEqual(['000/layer.tar', '001/layer.tar', '002/layer.tar', `${built.imageId.slice(7)}.json`, 'manifest.json']);
    const sk = JSON.parse((await run('skopeo', ['inspect', `docker-archive:${file(1)}`])).stdout) as { Layers: string[] };
    expect(sk.Layers).toEqual(built.diffIds);
  });

  it("loadImageArchive loads an archive and reports the engine's error lines", async () => {
    const out = join(work.path, 'for-load.tar.gz');
    await buildLayeredImage({ name: 'ndt-test/loaded', tag: 'l1', contents: [rootfs], out, compressor: 'gz' });
    cleanup.images.add('ndt-test/loaded:l1');
    expect(await loadImageArchive(out)).toEqual(['ndt-test/loaded:l1']);
    const bogus = join(work.path, 'bogus.tar');
    await writeFile(bogus, Buffer.alloc(10240));
    await expect(loadImageArchive(bogus)).rejects.toThrow(/docker load/);
  });

  it('a failed load is image_load, with a hint', async () => {
    const bogus = join(work.path, 'bogus-coded.tar');
    await writeFile(bogus, Buffer.alloc(10240));
    const err = await loadImageArchive(bogus).then(
      () => null,
      (e: OpError) => e,
    );
    expect(err).toBeInstanceOf(OpError);
    expect(err!.code).toBe('image_load');
    expect(err!.hint).toMatch(/docker-archive .*free space/);
  });

  it('defaultEngine is the engine that answers; one that does not is engine_unavailable, saying what to do', async () => {
    expect(typeof (await (await defaultEngine()).version()).ApiVersion).toBe('string');
    vi.stubEnv('DOCKER_HOST', `unix://${join(work.path, 'no-engine.sock')}`);
    try {
      const err = await defaultEngine().then(
        () => null,
        (e: OpError) => e,
      );
      expect(err).toMatchObject({ code: 'engine_unavailable', message: expect.stringContaining('no-engine.sock') });
      expect(err!.hint).toMatch(/DOCKER_HOST/);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('a load that gets no answer says so (not that the archive is wrong) and closes the stream', async () => {
    const nowhere = openEngine({ DOCKER_HOST: `unix://${join(work.path, 'no-engine.sock')}` }).docker;
    const s = await streamLayeredImage({ name: 'ndt-test/unanswered', contents: [rootfs] });
    const err = await loadImageStream(nowhere, s.stream).then(
      () => null,
      (e: OpError) => e,
    );
    expect(err).toMatchObject({ code: 'image_load', message: expect.stringContaining('no-engine.sock') });
    expect(err!.hint).toMatch(/did not answer/);
    expect(s.stream.destroyed).toBe(true);
    await expect(s.done).rejects.toThrow();
  });
});

describe.skipIf(!engine)('buildLayeredImage on top of fromImage', () => {
  const cleanup = new Cleanup();
  let work: { path: string; remove(): Promise<void> };
  beforeAll(async () => {
    work = await tempDir('ndt-layered-from-');
  });
  afterAll(async () => {
    await cleanup.run();
    await work?.remove();
  });

  it('keeps the base layers and Env, counts them against maxLayers', async () => {
    const rootfs = await busyboxRootfs(join(work.path, 'rootfs'), ['sh', 'cat', 'echo']);
    const base = join(work.path, 'base.tar.gz');
    const b = await buildLayeredImage({
      name: 'ndt-test/from-base',
      contents: [rootfs],
      config: { Env: ['A=base', 'B=base'] },
      out: base,
      compressor: 'gz',
    });
    const app = join(work.path, 'app');
    await mkdir(app);
    await writeFile(join(app, 'msg'), 'on top\n');
    const out = join(work.path, 'top.tar');
    const r = await buildLayeredImage({
      name: 'ndt-test/from-top',
      tag: 't',
      fromImage: base,
      contents: [app],
      config: { Env: ['B=top'], Cmd: ['/bin/sh', '-c', 'cat /msg; echo $A $B'] },
      out,
    });
    expect(r.diffIds.slice(0, b.diffIds.length)).toEqual(b.diffIds);
    expect(r.diffIds.length).toBe(b.diffIds.length + 2);
    cleanup.images.add('ndt-test/from-top:t');
    await loadArchive(out);
    const res = await runIn('ndt-test/from-top:t', undefined, cleanup);
    expect(res.output).toContain('on top');
    expect(res.output).toContain('base top');
    // streamed, the base layers go through as they are (checked against their diff IDs)
    const s = await streamLayeredImage({
      name: 'ndt-test/from-top',
      tag: 's',
      fromImage: base,
      contents: [app],
      config: { Env: ['B=top'], Cmd: ['/bin/sh', '-c', 'cat /msg; echo $A $B'] },
    });
    cleanup.images.add('ndt-test/from-top:s');
    expect(await loadImageStream(docker, s.stream)).toEqual(['ndt-test/from-top:s']);
    expect(s.imageId).toBe(r.imageId);
    await expect(
      buildLayeredImage({ name: 'ndt-test/from-top', fromImage: base, contents: [app], maxLayers: 3, out: join(work.path, 'x.tar') }),
    ).rejects.toThrow(/maxLayers 3 leaves no layer for the contents: fromImage has 2 layers/);
  });
});

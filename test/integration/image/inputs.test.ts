// Inputs users bring, that the toolkit did not make itself (issue 19, items
// 1-8): archives from `docker save` with shared layers, OCI layouts with
// several images or an image index, links into the store, checked against
// the engine and the peers (docker save/load, skopeo, umoci).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage, buildLayeredImage, exportImage, shadowSetup } from '../../../src/image/index.js';
import { readTarFile } from '../../../src/image/tar-reader.js';
import { goArch } from '../../../src/image/config.js';
import { sha256 } from '../../../src/image/digest.js';
import { OpError } from '../../../src/errors.js';
import { Cleanup, busyboxRootfs, engineAnswers, loadArchive, run, runIn, tempDir } from './helpers.js';

vi.setConfig({ testTimeout: 180_000, hookTimeout: 120_000 });

const engine = await engineAnswers();
if (!engine) console.warn('SKIPPED image integration tests: the Docker engine does not answer on DOCKER_HOST / /var/run/docker.sock');

async function listing(file: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTarFile(file)) out.push(e.name);
  return out;
}

describe.skipIf(!engine)('inputs users bring', () => {
  const cleanup = new Cleanup();
  let work: { path: string; remove(): Promise<void> };
  let baseArchive: string;
  beforeAll(async () => {
    work = await tempDir('ndt-inputs-');
    const rootfs = await busyboxRootfs(join(work.path, 'rootfs'), ['sh', 'cat', 'ls', 'stat', 'echo']);
    baseArchive = join(work.path, 'base.tar');
    await buildLayeredImage({ name: 'ndt-test/inputs-base', tag: 'b', contents: [rootfs], out: baseArchive });
  });
  afterAll(async () => {
    await cleanup.run();
    await work?.remove();
  });

  it('uses a `docker save` archive whose shared layers are symlinked layer.tar entries', async () => {
    // An empty copy-to-root gives a second empty layer, as the base's customisation layer is:
    // docker save writes it once and links the other <id>/layer.tar to it.
    const empty = join(work.path, 'empty');
    const data = join(work.path, 'data');
    await mkdir(empty);
    await mkdir(join(data, 'srv'), { recursive: true });
    await writeFile(join(data, 'srv', 'note'), 'from the saved image\n');
    const a = join(work.path, 'a.tar');
    const b = join(work.path, 'b.tar');
    await buildImage({ name: 'ndt-test/inputs-a', tag: 't', fromImage: baseArchive, copyToRoot: empty, out: a });
    await buildImage({ name: 'ndt-test/inputs-b', tag: 't', fromImage: baseArchive, copyToRoot: data, out: b });
    cleanup.images.add('ndt-test/inputs-a:t').add('ndt-test/inputs-b:t');
    await loadArchive(a);
    await loadArchive(b);
    const saved = join(work.path, 'two.tar');
    await run('docker', ['save', 'ndt-test/inputs-a:t', 'ndt-test/inputs-b:t', '-o', saved]);
    const { stdout } = await run('tar', ['tvf', saved]);
    expect(stdout).toMatch(/^l.* [0-9a-f]{64}\/layer\.tar -> \.\.\/[0-9a-f]{64}\/layer\.tar$/m);

    const flat = join(work.path, 'flat-a.tar');
    await exportImage({ fromImage: saved, fromImageName: 'ndt-test/inputs-a', fromImageTag: 't', out: flat });
    expect(await listing(flat)).toContain('bin/busybox');
    // Named as nixpkgs' exportImage names them (tools grep the listing for ./bin/sh).
    const names = (await run('tar', ['tf', flat])).stdout.split('\n').filter(Boolean);
    expect(names.slice(0, 3)).toEqual(['./', './bin/', './bin/busybox']);
    expect(names).toContain('./bin/sh');
    expect(names.filter((n) => !n.startsWith('./'))).toEqual([]);

    const out = join(work.path, 'on-saved.tar');
    await buildImage({
      name: 'ndt-test/inputs-on-saved',
      tag: 't',
      fromImage: saved,
      fromImageName: 'ndt-test/inputs-b',
      fromImageTag: 't',
      copyToRoot: empty,
      config: { Cmd: ['/bin/cat', '/srv/note'] },
      out,
    });
    cleanup.images.add('ndt-test/inputs-on-saved:t');
    await loadArchive(out);
    const res = await runIn('ndt-test/inputs-on-saved:t', undefined, cleanup);
    expect(res).toMatchObject({ code: 0 });
    expect(res.output).toContain('from the saved image');
  });

  it("picks an OCI layout's image by its ref.name tag and, through an image index, by platform", async () => {
    const data = join(work.path, 'oci-data');
    await mkdir(join(data, 'srv'), { recursive: true });
    await writeFile(join(data, 'srv', 'note'), 'image b\n');
    const a = join(work.path, 'oci-a.tar');
    const b = join(work.path, 'oci-b.tar');
    const other = join(work.path, 'oci-other');
    const otherArch = goArch() === 'riscv64' ? 's390x' : 'riscv64';
    const builtA = await buildImage({ name: 'ndt-test/oci-a', tag: 't', fromImage: baseArchive, out: a });
    await buildImage({ name: 'ndt-test/oci-b', tag: 't', fromImage: baseArchive, copyToRoot: data, out: b });
    await buildImage({ name: 'ndt-test/oci-o', tag: 't', fromImage: baseArchive, architecture: otherArch, out: other, format: 'oci' });
    const layout = join(work.path, 'layout');
    await run('skopeo', ['copy', '-q', `docker-archive:${a}`, `oci:${layout}:a`]);
    await run('skopeo', ['copy', '-q', `docker-archive:${b}`, `oci:${layout}:b`]);
    await run('skopeo', ['copy', '-q', `oci:${other}`, `oci:${layout}:other`]);

    const onB = join(work.path, 'on-b.tar');
    await buildImage({
      name: 'ndt-test/oci-on-b',
      tag: 't',
      fromImage: layout,
      fromImageTag: 'b',
      config: { Cmd: ['/bin/cat', '/srv/note'] },
      out: onB,
    });
    cleanup.images.add('ndt-test/oci-on-b:t');
    await loadArchive(onB);
    const res = await runIn('ndt-test/oci-on-b:t', undefined, cleanup);
    expect(res.output).toContain('image b');
    const absent = await buildImage({ name: 'x', fromImage: layout, fromImageTag: 'c', out: join(work.path, 'no.tar') }).catch(
      (e: unknown) => e,
    );
    expect(absent).toBeInstanceOf(OpError);
    expect(absent).toMatchObject({ code: 'base_image' });
    expect((absent as OpError).message).toContain('no image tagged c (the layout holds a, b, other)');

    // A multi-arch image: an image index naming a's manifest for this machine and the other one's.
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
      manifests: { digest: string; size: number; annotations: Record<string, string> }[];
    };
    const ref = (name: string) => index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === name)!;
    const multi = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: ref('other').digest,
            size: ref('other').size,
            platform: { os: 'linux', architecture: otherArch },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: ref('a').digest,
            size: ref('a').size,
            platform: { os: 'linux', architecture: goArch() },
          },
        ],
      }),
    );
    await writeFile(join(layout, 'blobs', 'sha256', sha256(multi).slice(7)), multi);
    index.manifests.push({
      mediaType: 'application/vnd.oci.image.index.v1+json',
      digest: sha256(multi),
      size: multi.length,
      annotations: { 'org.opencontainers.image.ref.name': 'multi' },
    } as never);
    await writeFile(join(layout, 'index.json'), JSON.stringify(index));
    const { stdout: skopeoSees } = await run('skopeo', ['inspect', '--override-arch', otherArch, `oci:${layout}:multi`]);
    expect(JSON.parse(skopeoSees)).toMatchObject({ Architecture: otherArch });

    const onMulti = await buildImage({
      name: 'ndt-test/oci-multi',
      tag: 't',
      fromImage: layout,
      fromImageTag: 'multi',
      out: join(work.path, 'multi.tar'),
    });
    expect(onMulti.diffIds.slice(0, builtA.diffIds.length)).toEqual(builtA.diffIds);
    const onOther = await buildImage({
      name: 'ndt-test/oci-multi',
      tag: 'o',
      fromImage: layout,
      fromImageTag: 'multi',
      architecture: otherArch,
      out: join(work.path, 'multi-o.tar'),
    });
    expect(JSON.parse((await run('tar', ['xOf', onOther.path, `${onOther.imageId.slice(7)}.json`])).stdout)).toMatchObject({
      architecture: otherArch,
    });
    const none = await buildImage({
      name: 'x',
      fromImage: layout,
      fromImageTag: 'multi',
      architecture: 'mips64le',
      out: join(work.path, 'no2.tar'),
    }).catch((e: unknown) => e);
    expect(none).toMatchObject({ code: 'image_platform' });
    expect((none as OpError).message).toContain(`no image for linux/mips64le (has linux/${otherArch}, linux/${goArch()})`);
  });

  it("runs buildImage's extraCommands in the layer, seeing and changing what copyToRoot brought", async () => {
    const data = join(work.path, 'extra-data');
    await mkdir(join(data, 'srv'), { recursive: true });
    await writeFile(join(data, 'srv', 'note'), 'copied\n');
    const out = join(work.path, 'extra.tar');
    await buildImage({
      name: 'ndt-test/inputs-extra',
      tag: 't',
      fromImage: baseArchive,
      copyToRoot: data,
      out,
      extraCommands: 'set -e; cat srv/note > srv/made; echo by-extra >> srv/made; chmod 600 srv/note; mkdir -p var/empty',
      config: { Cmd: ['/bin/sh', '-c', "cat /srv/made; stat -c '%a %n' /srv/note /var/empty"] },
    });
    cleanup.images.add('ndt-test/inputs-extra:t');
    await loadArchive(out);
    const res = await runIn('ndt-test/inputs-extra:t', undefined, cleanup);
    expect(res.code).toBe(0);
    expect(res.output).toMatch(/copied\r?\nby-extra/);
    expect(res.output).toContain('600 /srv/note');
    expect(res.output).toContain('755 /var/empty');
    const failed = await buildImage({
      name: 'x',
      copyToRoot: data,
      extraCommands: 'echo broken >&2; exit 4',
      out: join(work.path, 'no3.tar'),
    }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: 'extra_commands' });
    expect((failed as OpError).message).toContain('broken');
  });

  it("puts the store paths copyToRoot links to, with their closure, into buildImage's layer", async () => {
    const store = join(work.path, 'nix-store');
    const lib = join(store, `${'l'.repeat(32)}-lib`);
    const app = join(store, `${'a'.repeat(32)}-app`);
    await mkdir(join(lib, 'share'), { recursive: true });
    await writeFile(join(lib, 'share', 'msg'), 'from the closure\n');
    await mkdir(join(app, 'bin'), { recursive: true });
    await writeFile(join(app, 'bin', 'app'), `#!/bin/sh\ncat ${lib}/share/msg\n`, { mode: 0o755 });
    const root = join(work.path, 'app-root');
    await mkdir(join(root, 'bin'), { recursive: true });
    await symlink(`${app}/bin/app`, join(root, 'bin', 'app'));
    const out = join(work.path, 'closure.tar');
    await buildImage({
      name: 'ndt-test/inputs-closure',
      tag: 't',
      fromImage: baseArchive,
      copyToRoot: root,
      storeDir: store,
      config: { Cmd: ['/bin/app'] },
      out,
    });
    cleanup.images.add('ndt-test/inputs-closure:t');
    await loadArchive(out);
    const res = await runIn('ndt-test/inputs-closure:t', undefined, cleanup);
    expect(res).toMatchObject({ code: 0 });
    expect(res.output).toContain('from the closure');
  });

  it('says clearly that runAsRoot and fakeRootCommands need /bin/sh (or their #! interpreter) in the image', async () => {
    const data = join(work.path, 'no-shell');
    await mkdir(join(data, 'etc'), { recursive: true });
    await writeFile(join(data, 'etc', 'motd'), 'no shell here\n');
    const noShell = join(work.path, 'no-shell.tar');
    await buildLayeredImage({ name: 'ndt-test/inputs-no-shell', tag: 't', contents: [data], out: noShell });
    const attempts = [
      () => buildImage({ name: 'x', fromImage: noShell, runAsRoot: 'echo hi', out: join(work.path, 'ns1.tar') }),
      () =>
        buildLayeredImage({
          name: 'x',
          fromImage: noShell,
          contents: [data],
          fakeRootCommands: 'echo hi',
          out: join(work.path, 'ns2.tar'),
        }),
      () => buildImage({ name: 'x', fromImage: baseArchive, runAsRoot: '#!/bin/bash\necho hi\n', out: join(work.path, 'ns3.tar') }),
    ];
    const errors = [];
    for (const attempt of attempts) errors.push(await attempt().catch((e: unknown) => e));
    for (const e of errors) expect(e).toMatchObject({ code: 'run_as_root_shell' });
    const [runAs, fakeRoot, shebang] = errors as OpError[];
    expect(runAs!.message).toMatch(/^runAsRoot cannot run: the image has no \/bin\/sh/);
    expect(runAs!.hint).toContain('static busybox');
    expect(fakeRoot!.message).toMatch(/^fakeRootCommands cannot run: the image has no \/bin\/sh/);
    expect(shebang!.message).toMatch(/^runAsRoot cannot run: the image has no \/bin\/bash \(the interpreter of its #! line\)/);
    expect(shebang!.hint).toContain('change the #! line');
  });

  it("gives shadowSetup's users homes they own, as useradd -m does, in buildImage and buildLayeredImage", async () => {
    const root = join(work.path, 'accounts');
    await shadowSetup({
      root,
      users: [
        { name: 'alice', uid: 1234, gid: 1234 },
        { name: 'bob', uid: 1500, gid: 100 },
      ],
    });
    const check = "stat -c '%n %U:%G %u:%g' /home/alice /home/bob; ls -a /";
    for (const build of ['image', 'layered'] as const) {
      const out = join(work.path, `homes-${build}.tar`);
      const tag = `ndt-test/inputs-homes:${build}`;
      if (build === 'image')
        await buildImage({
          name: 'ndt-test/inputs-homes',
          tag: build,
          fromImage: baseArchive,
          copyToRoot: root,
          config: { Cmd: ['/bin/sh', '-c', check] },
          out,
        });
      else
        await buildLayeredImage({
          name: 'ndt-test/inputs-homes',
          tag: build,
          fromImage: baseArchive,
          contents: [root],
          config: { Cmd: ['/bin/sh', '-c', check] },
          out,
        });
      cleanup.images.add(tag);
      await loadArchive(out);
      const res = await runIn(tag, undefined, cleanup);
      expect(res).toMatchObject({ code: 0 });
      expect(res.output).toContain('/home/alice alice:alice 1234:1234');
      expect(res.output).toContain('/home/bob bob:');
      expect(res.output).toContain('1500:100');
      expect(res.output).not.toContain('.ndt-owners');
    }
  });

  it('a runAsRoot script that exits 3 in an image with /bin/sh is not told it needs /bin/sh', async () => {
    const err = await buildImage({
      name: 'x',
      fromImage: baseArchive,
      runAsRoot: 'echo oops; exit 3',
      out: join(work.path, 'exit3.tar'),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'run_as_root' });
    expect((err as OpError).message).toMatch(/^runAsRoot script failed with status 3:[\s\S]*oops/);
    expect(`${(err as OpError).message} ${(err as OpError).hint}`).not.toContain('/bin/sh');
  });

  it('runAsRoot and fakeRootCommands stop at the first failing command (sh -e, as nixpkgs runs them)', async () => {
    const script = 'echo before; false; echo after; echo x > /marker';
    const runAs = await buildImage({ name: 'x', fromImage: baseArchive, runAsRoot: script, out: join(work.path, 'e1.tar') }).catch(
      (e: unknown) => e,
    );
    const fakeRoot = await buildLayeredImage({
      name: 'x',
      fromImage: baseArchive,
      fakeRootCommands: script,
      out: join(work.path, 'e2.tar'),
    }).catch((e: unknown) => e);
    for (const [what, err] of [
      ['runAsRoot', runAs],
      ['fakeRootCommands', fakeRoot],
    ] as const) {
      expect(err, what).toMatchObject({ code: 'run_as_root' });
      expect((err as OpError).message, what).toMatch(new RegExp(`^${what} script failed with status 1:[\\s\\S]*before`));
      expect((err as OpError).message, what).not.toContain('after');
    }
  });

  it('brings in the store paths that extraCommands and fakeRootCommands link to, with their closure', async () => {
    const store = join(work.path, 'cmd-store');
    const sp = (c: string, name: string) => join(store, `${c.repeat(32)}-${name}`);
    const [x, y, z] = [sp('x', 'extra-tool'), sp('y', 'fakeroot-data'), sp('z', 'dep')];
    await mkdir(join(z), { recursive: true });
    await writeFile(join(z, 'msg'), 'z reached through y\n');
    await mkdir(join(x, 'bin'), { recursive: true });
    await writeFile(join(x, 'bin', 'x'), 'x from extraCommands\n');
    await mkdir(join(y, 'share'), { recursive: true });
    await writeFile(join(y, 'share', 'y'), `y from fakeRootCommands, see ${z}/msg\n`);
    const rootfs = join(work.path, 'rootfs');
    const out = join(work.path, 'cmd-refs.tar');
    await buildLayeredImage({
      name: 'ndt-test/inputs-cmd-refs',
      tag: 't',
      contents: [rootfs],
      storeDir: store,
      out,
      extraCommands: `mkdir -p opt && ln -s ${x}/bin/x opt/x`,
      fakeRootCommands: `ln -s ${y}/share/y /y-link`,
      config: { Cmd: ['/bin/sh', '-c', `cat /opt/x /y-link ${z}/msg`] },
    });
    cleanup.images.add('ndt-test/inputs-cmd-refs:t');
    await loadArchive(out);
    const res = await runIn('ndt-test/inputs-cmd-refs:t', undefined, cleanup);
    expect(res).toMatchObject({ code: 0 });
    expect(res.output).toContain('x from extraCommands');
    expect(res.output).toContain('y from fakeRootCommands');
    expect(res.output).toContain('z reached through y');
  });

  it('auto layering uses every layer maxLayers allows (skopeo sees them)', async () => {
    const store = join(work.path, 'auto-store');
    const sp = (c: string, name: string) => join(store, `${c.repeat(32)}-${name}`);
    const [a, b, c, dd] = [sp('a', 'big'), sp('b', 'mid'), sp('c', 'shared'), sp('d', 'small')];
    for (const [p, bytes, ref] of [
      [a, 3000, c],
      [b, 2000, c],
      [c, 1000, ''],
      [dd, 500, ''],
    ] as const) {
      await mkdir(p, { recursive: true });
      await writeFile(join(p, 'data'), `${ref}\n`.padEnd(bytes, 'x'));
    }
    const out = join(work.path, 'auto.tar');
    const r = await buildLayeredImage({
      name: 'ndt-test/inputs-auto',
      tag: 't',
      contents: [a, b, dd],
      storeDir: store,
      layering: 'auto',
      maxLayers: 4,
      out,
    });
    expect(r.diffIds.length).toBe(4);
    const { stdout } = await run('skopeo', ['inspect', `docker-archive:${out}`]);
    expect((JSON.parse(stdout) as { Layers: string[] }).Layers.length).toBe(4);
  });
});

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage, buildLayeredImage, exportImage } from '../../../src/image/index.js';
import { readTarFile } from '../../../src/image/tar-reader.js';
import { Cleanup, busyboxRootfs, docker, engineAnswers, loadArchive, runIn, tempDir } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const engine = await engineAnswers();
if (!engine) console.warn('SKIPPED image integration tests: the Docker engine does not answer on DOCKER_HOST / /var/run/docker.sock');

describe.skipIf(!engine)('buildImage with fromImage, copyToRoot and runAsRoot on the engine', () => {
  const cleanup = new Cleanup();
  let work: { path: string; remove(): Promise<void> };
  let baseArchive: string;
  let extra: string;

  beforeAll(async () => {
    work = await tempDir('ndt-build-');
    const rootfs = await busyboxRootfs(join(work.path, 'rootfs'), [
      'sh',
      'cat',
      'ls',
      'rm',
      'mkdir',
      'chown',
      'echo',
      'stat',
      'find',
      'sort',
    ]);
    await mkdir(join(rootfs, 'etc'));
    await writeFile(join(rootfs, 'etc', 'doomed'), 'to be deleted\n');
    baseArchive = join(work.path, 'base.tar');
    await buildLayeredImage({ name: 'ndt-test/base', tag: 'b', contents: [rootfs], out: baseArchive });
    extra = join(work.path, 'extra');
    await mkdir(join(extra, 'srv'), { recursive: true });
    await writeFile(join(extra, 'srv', 'data.txt'), 'copied to root\n');
  });
  afterAll(async () => {
    await cleanup.run();
    await work?.remove();
  });

  it("keeps only runAsRoot's changes, reproducibly, and leaves nothing on the engine", async () => {
    const script = 'set -e; mkdir -p /home/app; echo made > /home/app/note; chown 1000:1000 /home/app/note; rm /etc/doomed';
    const results = [];
    for (const n of [1, 2]) {
      results.push(
        await buildImage({
          name: 'ndt-test/built',
          tag: `r${n}`,
          fromImage: baseArchive,
          copyToRoot: extra,
          runAsRoot: script,
          config: { Cmd: ['/bin/sh', '-c', 'cat /srv/data.txt /home/app/note; stat -c %u:%g /home/app/note; ls /etc'] },
          out: join(work.path, `built${n}.tar`),
        }),
      );
    }
    expect(results[0]!.imageId).toBe(results[1]!.imageId);
    expect(results[0]!.diffIds.length).toBe(4); // base layer, customisation, contents, runAsRoot
    const leftImages = (await docker.listImages({ all: true })).filter((i) =>
      (i.RepoTags ?? []).some((t) => t.startsWith('ndt-run-as-root-')),
    );
    expect(leftImages).toEqual([]);
    const leftContainers = (await docker.listContainers({ all: true })).filter((c) => c.Image.startsWith('ndt-run-as-root-'));
    expect(leftContainers).toEqual([]);

    cleanup.images.add('ndt-test/built:r1');
    await loadArchive(join(work.path, 'built1.tar'));
    const res = await runIn('ndt-test/built:r1', undefined, cleanup);
    expect(res.code).toBe(0);
    expect(res.output).toContain('copied to root');
    expect(res.output).toContain('made');
    expect(res.output).toContain('1000:1000');
    expect(res.output).not.toContain('doomed');
  });

  it('runs a shebang script with a host store mounted, keeping neither the script nor the mount points', async () => {
    const store = join(work.path, 'store');
    const tool = join(store, `${'t'.repeat(32)}-tool`);
    await mkdir(join(tool, 'bin'), { recursive: true });
    await writeFile(join(tool, 'bin', 'mkfile'), '#!/bin/sh\necho from-store > "$1"\n', { mode: 0o755 });
    const out = join(work.path, 'shebang.tar');
    await buildImage({
      name: 'ndt-test/shebang',
      tag: 's',
      fromImage: baseArchive,
      out,
      runAsRootMounts: [store],
      runAsRoot: `#!/bin/sh\nset -e\n${tool}/bin/mkfile /made-by-tool\n`,
      config: { Cmd: ['/bin/cat', '/made-by-tool'] },
    });
    const flat = join(work.path, 'shebang-root.tar');
    await exportImage({ fromImage: out, out: flat });
    const names: string[] = [];
    for await (const e of readTarFile(flat)) names.push(e.name);
    expect(names).toContain('made-by-tool');
    expect(names).not.toContain('.ndt-run-as-root');
    expect(names.filter((n) => n.startsWith('tmp'))).toEqual([]);
    cleanup.images.add('ndt-test/shebang:s');
    await loadArchive(out);
    expect((await runIn('ndt-test/shebang:s', undefined, cleanup)).output).toContain('from-store');
  });

  it('fails clearly when the script fails', async () => {
    await expect(
      buildImage({ name: 'ndt-test/fail', fromImage: baseArchive, runAsRoot: 'echo oops; exit 3', out: join(work.path, 'fail.tar') }),
    ).rejects.toThrow(/runAsRoot script failed with status 3[\s\S]*oops/);
  });
});

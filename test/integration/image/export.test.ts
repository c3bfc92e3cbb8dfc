import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { buildImage, exportImage } from '../../../src/image/index.js';
import { readTarFile } from '../../../src/image/tar-reader.js';
import { Cleanup, busyboxRootfs, docker, engineAnswers, loadArchive, run, tempDir } from './helpers.js';
import { dir, file, hardLink, link, marker, writeHandmadeImage } from './handmade-image.js';
import { paxMember, rawMember } from '../../unit/image/raw-tar.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const engine = await engineAnswers();
if (!engine) console.warn('SKIPPED image integration tests: the Docker engine does not answer on DOCKER_HOST / /var/run/docker.sock');

async function names(file: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of readTarFile(file))
    out.set(
      e.name,
      `${e.type === 'hardlink' ? 'file' : e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid}${e.type === 'symlink' ? ` -> ${e.linkname}` : ''}`,
    );
  return out;
}

// What the engine adds to every container's filesystem.
const ENGINE_ADDED = new Set([
  '.dockerenv',
  'dev',
  'dev/console',
  'dev/pts',
  'dev/shm',
  'etc', // when the image has none
  'etc/hostname',
  'etc/hosts',
  'etc/mtab',
  'etc/resolv.conf',
  'proc',
  'sys',
]);

describe.skipIf(!engine)('exportImage', () => {
  const cleanup = new Cleanup();
  let work: { path: string; remove(): Promise<void> };
  beforeAll(async () => {
    work = await tempDir('ndt-export-');
  });
  afterAll(async () => {
    await cleanup.run();
    await work?.remove();
  });

  /** Loads `archive` (tagged `tag`), exports a container of it and expects `ours`' names, types, modes and owners. */
  async function expectSameAsDockerExport(archive: string, tag: string, ours: Map<string, string>): Promise<void> {
    cleanup.images.add(tag);
    await loadArchive(archive);
    const c = await docker.createContainer({ Image: tag, Cmd: ['/bin/sh'], HostConfig: { NetworkMode: 'none' } });
    cleanup.containers.add(c.id);
    const exported = join(work.path, 'docker-export.tar');
    await pipeline((await c.export()) as NodeJS.ReadableStream, createWriteStream(exported));
    const theirs = await names(exported);
    const theirsOwn = new Map([...theirs].filter(([n]) => !ENGINE_ADDED.has(n) || ours.has(n)));
    expect([...ours.keys()].sort()).toEqual([...theirsOwn.keys()].sort());
    for (const [n, t] of ours) expect([n, theirsOwn.get(n)]).toEqual([n, t]);
  }

  it('flattens a three-layer image with deletions like docker export', async () => {
    const rootfs = await busyboxRootfs(join(work.path, 'rootfs'), ['sh', 'rm', 'mkdir', 'touch', 'echo', 'ln']);
    await mkdir(join(rootfs, 'etc', 'conf.d'), { recursive: true });
    await writeFile(join(rootfs, 'etc', 'conf.d', 'old'), 'old\n');
    await writeFile(join(rootfs, 'etc', 'keep'), 'keep\n');
    await mkdir(join(rootfs, 'var', 'junk', 'deep'), { recursive: true });
    await writeFile(join(rootfs, 'var', 'junk', 'deep', 'f'), 'f\n');
    const one = join(work.path, 'one.tar');
    await buildImage({ name: 'ndt-test/export', tag: 'one', copyToRoot: rootfs, out: one });
    const extra = join(work.path, 'extra');
    await mkdir(join(extra, 'opt', 'app'), { recursive: true });
    await writeFile(join(extra, 'opt', 'app', 'bin'), 'app\n');
    await writeFile(join(extra, 'delete-me'), 'x\n');
    const three = join(work.path, 'three.tar');
    const r = await buildImage({
      name: 'ndt-test/export',
      tag: 'three',
      fromImage: one,
      copyToRoot: extra,
      out: three,
      runAsRoot:
        'set -e; rm /delete-me; rm -r /var/junk; rm -r /etc/conf.d; mkdir /etc/conf.d; touch /etc/conf.d/new; echo hi > /opt/app/hardsrc; ln /opt/app/hardsrc /opt/app/hardlink',
    });
    expect(r.diffIds.length).toBe(3);

    const flat = join(work.path, 'flat.tar');
    await exportImage({ fromImage: three, out: flat });
    const ours = await names(flat);
    expect(ours.has('delete-me')).toBe(false);
    expect(ours.has('var/junk')).toBe(false);
    expect(ours.has('etc/conf.d/old')).toBe(false);
    expect(ours.get('etc/conf.d/new')).toMatch(/^file /);
    expect(ours.get('opt/app/hardlink')).toMatch(/^file /);

    await expectSameAsDockerExport(three, 'ndt-test/export:three', ours);
    // GNU tar reads it too
    const { stdout } = await run('tar', ['-tf', flat]);
    expect(stdout).toContain('opt/app/bin');
  });

  it("makes a whiteout's missing parents directories, as docker export shows them; opaque markers and a directory's whiteout", async () => {
    const archive = join(work.path, 'whiteouts.tar');
    await writeHandmadeImage(archive, 'ndt-test/export:whiteouts', [
      [file('x'), dir('q'), dir('q/sub'), file('q/sub/f'), dir('r'), file('r/a'), file('kept')],
      [marker('a/b/.wh.c'), marker('m/.wh..wh..opq'), marker('q/.wh.sub'), marker('r/.wh..wh..opq'), file('r/new'), marker('.wh.kept')],
    ]);
    const flat = join(work.path, 'whiteouts-flat.tar');
    await exportImage({ fromImage: archive, out: flat });
    const ours = await names(flat);
    expect([...ours.keys()].sort()).toEqual(['a', 'a/b', 'm', 'q', 'r', 'r/new', 'x']);
    await expectSameAsDockerExport(archive, 'ndt-test/export:whiteouts', ours);
  });

  it('skips a global pax header as docker export does (its owner records reach no entry)', async () => {
    const archive = join(work.path, 'global-pax.tar');
    const layer = Buffer.concat([
      paxMember({ uid: '4242', gid: '4243', mtime: '7' }, 'g'),
      rawMember({ name: 'g.txt', data: 'g\n' }),
      paxMember({ uid: '17' }),
      rawMember({ name: 'own.txt', data: 'own\n' }),
      Buffer.alloc(1024),
    ]);
    await writeHandmadeImage(archive, 'ndt-test/export:global-pax', [layer]);
    const flat = join(work.path, 'global-pax-flat.tar');
    await exportImage({ fromImage: archive, out: flat });
    const ours = await names(flat);
    expect(ours.get('g.txt')).toBe('file 644 0:0');
    expect(ours.get('own.txt')).toBe('file 644 17:0');
    await expectSameAsDockerExport(archive, 'ndt-test/export:global-pax', ours);
  });

  it("puts names under a layer's own symlinks where the symlink leads, as docker export shows them", async () => {
    const archive = join(work.path, 'symlinks.tar');
    await writeHandmadeImage(archive, 'ndt-test/export:symlinks', [
      [file('x'), dir('b'), file('b/old'), file('b/kept'), dir('e'), file('e/old'), dir('lower'), link('lowlink', 'lower')],
      [
        dir('b'),
        link('a', 'b'),
        file('a/file'),
        dir('a/sub', { mode: 0o700 }),
        file('a/sub/g'),
        hardLink('hl', 'a/file'),
        marker('a/.wh.old'),
        dir('e'),
        link('g', 'e'),
        marker('g/.wh..wh..opq'),
        dir('etc2'),
        link('abs', '/etc2'),
        file('abs/one'),
        link('up', '../../../etc2'),
        file('up/two'),
        dir('c'),
        link('chain2', 'c'),
        link('chain1', 'chain2/.'),
        file('chain1/three'),
        file('lowlink/four'),
        { ...link('odd', 'x'), mode: 0o644 }, // the kernel shows every symlink as 0777
      ],
    ]);
    const flat = join(work.path, 'symlinks-flat.tar');
    await exportImage({ fromImage: archive, out: flat });
    const ours = await names(flat);
    for (const name of ['b/file', 'b/sub/g', 'etc2/one', 'etc2/two', 'c/three']) expect(ours.get(name)).toMatch(/^file /);
    for (const name of ['a/file', 'abs/one', 'up/two', 'chain1/three', 'b/old']) expect(ours.has(name)).toBe(false);
    expect(ours.get('lowlink')).toMatch(/^dir 755 /);
    expect(ours.get('odd')).toBe('symlink 777 0:0 -> x');
    await expectSameAsDockerExport(archive, 'ndt-test/export:symlinks', ours);
  });
});

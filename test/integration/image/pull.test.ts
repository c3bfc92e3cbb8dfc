import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { buildLayeredImage, ensureImage, pullImage } from '../../../src/image/index.js';
import { OpError } from '../../../src/errors.js';
import { Cleanup, busyboxRootfs, docker, engineAnswers, loadArchive, run, runIn, tempDir } from './helpers.js';
import { startRegistry, startTokenFront, type LocalRegistry, type TokenFront } from './registry-helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const engine = await engineAnswers();
if (!engine) console.warn('SKIPPED image integration tests: the Docker engine does not answer on DOCKER_HOST / /var/run/docker.sock');

describe.skipIf(!engine)('pullImage from docker-registry on 127.0.0.1', () => {
  const cleanup = new Cleanup();
  let work: { path: string; remove(): Promise<void> };
  let registry: LocalRegistry | undefined;
  let front: TokenFront | undefined;
  let digest: string;
  let outDir: string;

  beforeAll(async () => {
    work = await tempDir('ndt-pulltest-');
    outDir = join(work.path, 'out');
    registry = await startRegistry(work.path);
    front = await startTokenFront(registry.host);
    const rootfs = await busyboxRootfs(join(work.path, 'rootfs'));
    const archive = join(work.path, 'src.tar');
    await buildLayeredImage({
      name: 'ndt/pulled',
      tag: 'src',
      contents: [rootfs],
      config: { Cmd: ['/bin/echo', 'pulled and running'] },
      out: archive,
    });
    const digestFile = join(work.path, 'digest');
    await run('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--digestfile',
      digestFile,
      `docker-archive:${archive}`,
      `docker://${registry.host}/ndt/pulled:v1`,
    ]);
    digest = (await readFile(digestFile, 'utf8')).trim();
  });
  afterAll(async () => {
    await cleanup.run();
    await front?.stop();
    await registry?.stop();
    await work?.remove();
  });

  it('pulls by digest (answering a bearer challenge), prints the hash, and the archive loads and runs', async () => {
    const printed: string[] = [];
    const out = join(outDir, 'pulled.tar');
    const r = await pullImage({
      imageName: `${front!.host}/ndt/pulled`,
      imageDigest: digest,
      finalImageName: 'ndt-test/pulled',
      finalImageTag: 'p1',
      tlsVerify: false,
      out,
      log: (t) => printed.push(t),
    });
    expect(front!.tokensIssued()).toBeGreaterThan(0);
    expect(printed.join('')).toContain(`imageDigest = "${digest}";`);
    expect(printed.join('')).toMatch(/hash = "sha256-[A-Za-z0-9+/]{43}=";/);
    const { stdout } = await run('sha256sum', [out]);
    expect(r.sha256).toBe(`sha256:${stdout.split(' ')[0]}`);
    cleanup.images.add('ndt-test/pulled:p1');
    expect(await loadArchive(out)).toContain('ndt-test/pulled:p1');
    expect((await docker.getImage('ndt-test/pulled:p1').inspect()).Id).toBe(r.imageId);
    expect((await runIn('ndt-test/pulled:p1', undefined, cleanup)).output).toContain('pulled and running');

    // pinned: the same pull with the printed sha256 succeeds and is identical
    const again = await pullImage({
      imageName: `${registry!.host}/ndt/pulled`,
      imageDigest: digest,
      sha256: r.sha256,
      finalImageName: 'ndt-test/pulled',
      finalImageTag: 'p1',
      tlsVerify: false,
      out: join(outDir, 'again.tar'),
    });
    expect(again.sha256).toBe(r.sha256);
  });

  it('ensureImage pulls a pinned reference once and loads archives (for the runner)', async () => {
    const ref = `${registry!.host}/ndt/pulled@${digest}`;
    const tag = `${registry!.host}/ndt/pulled:sha256-${digest.slice(7, 39)}`;
    cleanup.images.add(tag);
    const logs: string[] = [];
    expect(await ensureImage({ reference: ref, tlsVerify: false }, { log: (l) => logs.push(l) })).toBe(tag);
    expect(await ensureImage({ reference: ref, tlsVerify: false }, { log: (l) => logs.push(l) })).toBe(tag);
    expect(logs.at(-1)).toContain('already present');
    expect((await runIn(tag, undefined, cleanup)).output).toContain('pulled and running');
    await expect(ensureImage({ reference: `${registry!.host}/ndt/pulled:v1` })).rejects.toThrow(/pinned by digest/);
    cleanup.images.add('ndt/pulled:src');
    expect(await ensureImage({ archive: join(work.path, 'src.tar') })).toBe('ndt/pulled:src');
  });

  it('fails cleanly on a wrong digest or a wrong sha256, writing nothing', async () => {
    const before = await readdir(outDir).catch(() => []);
    const tempsBefore = (await readdir(tmpdir())).filter((n) => n.startsWith('ndt-pull-'));
    const wrongDigest = `sha256:${'0'.repeat(64)}`;
    await expect(
      pullImage({ imageName: `${registry!.host}/ndt/pulled`, imageDigest: wrongDigest, tlsVerify: false, out: join(outDir, 'bad1.tar') }),
    ).rejects.toThrow(/HTTP 404|manifest/);
    await expect(
      pullImage({
        imageName: `${registry!.host}/ndt/pulled`,
        imageDigest: digest,
        sha256: '1'.repeat(64),
        tlsVerify: false,
        out: join(outDir, 'bad2.tar'),
      }),
    ).rejects.toThrow(/sha256 mismatch .* expected sha256:1{64}, got sha256:[0-9a-f]{64}/);
    await expect(
      pullImage({ imageName: `${registry!.host}/ndt/pulled`, imageDigest: 'latest', tlsVerify: false, out: join(outDir, 'bad3.tar') }),
    ).rejects.toThrow(/imageDigest must be sha256/);
    // a registry (here: a front in the middle) sending altered blob bytes is caught
    front!.corruptBlobs = true;
    try {
      await expect(
        pullImage({ imageName: `${front!.host}/ndt/pulled`, imageDigest: digest, tlsVerify: false, out: join(outDir, 'bad4.tar') }),
      ).rejects.toThrow(/blob digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}/);
    } finally {
      front!.corruptBlobs = false;
    }
    expect(await readdir(outDir).catch(() => [])).toEqual(before);
    expect((await readdir(tmpdir())).filter((n) => n.startsWith('ndt-pull-'))).toEqual(tempsBefore);
  });

  it('says what to do about each registry failure: a code and a hint', async () => {
    const coded = (p: Promise<unknown>) =>
      p.then(
        () => {
          throw new Error('expected a failure');
        },
        (err: OpError) => err,
      );
    const missing = await coded(
      pullImage({
        imageName: `${registry!.host}/ndt/pulled`,
        imageDigest: `sha256:${'0'.repeat(64)}`,
        tlsVerify: false,
        out: join(outDir, 'c1.tar'),
      }),
    );
    expect(missing).toBeInstanceOf(OpError);
    expect([missing.code, missing.hint]).toEqual([
      'registry_request',
      'Check the image name and the digest: the registry does not have them.',
    ]);
    const wrong = await coded(
      pullImage({
        imageName: `${registry!.host}/ndt/pulled`,
        imageDigest: digest,
        sha256: '1'.repeat(64),
        tlsVerify: false,
        out: join(outDir, 'c2.tar'),
      }),
    );
    expect(wrong.code).toBe('image_digest');
    expect(wrong.hint).toMatch(/put the sha256 it got into your options/);
    front!.corruptBlobs = true;
    try {
      const corrupt = await coded(
        pullImage({ imageName: `${front!.host}/ndt/pulled`, imageDigest: digest, tlsVerify: false, out: join(outDir, 'c3.tar') }),
      );
      expect(corrupt.code).toBe('image_digest');
      expect(corrupt.hint).toMatch(/other bytes than the digest names/);
    } finally {
      front!.corruptBlobs = false;
    }
    const closed = await coded(pullImage({ imageName: '127.0.0.1:1/ndt/pulled', imageDigest: digest, out: join(outDir, 'c4.tar') }));
    expect(closed.code).toBe('registry_request');
    expect(closed.message).toMatch(/cannot fetch https:\/\/127\.0\.0\.1:1\/v2\/.*ECONNREFUSED/);
    expect(closed.hint).toMatch(/Check the network/);
  });
});

describe.skipIf(!engine)('pullImage resolves a manifest list by os/arch', () => {
  let work: { path: string; remove(): Promise<void> };
  let registry: LocalRegistry | undefined;
  beforeAll(async () => {
    work = await tempDir('ndt-pulltest-');
    registry = await startRegistry(work.path);
  });
  afterAll(async () => {
    await registry?.stop();
    await work?.remove();
  });

  it('picks the manifest for the requested platform and verifies it', async () => {
    const rootfs = await busyboxRootfs(join(work.path, 'rootfs'), ['sh']);
    const merged = join(work.path, 'merged');
    const manifests: unknown[] = [];
    const configs: Record<string, string> = {};
    for (const arch of ['amd64', 'arm64']) {
      const dir = join(work.path, `oci-${arch}`);
      const r = await buildLayeredImage({
        name: 'ndt/multi',
        tag: arch,
        contents: [rootfs],
        architecture: arch,
        config: { Env: [`ARCH=${arch}`] },
        out: dir,
        format: 'oci',
      });
      configs[arch] = r.imageId;
      await cp(join(dir, 'blobs'), join(merged, 'blobs'), { recursive: true, force: true });
      const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { annotations?: unknown }[] };
      manifests.push({ ...index.manifests[0], annotations: undefined });
    }
    await writeFile(join(merged, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    // the platform manifests go in a nested index, named v1 in the layout's index.json
    const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    const innerDigest = `sha256:${createHash('sha256').update(inner).digest('hex')}`;
    await writeFile(join(merged, 'blobs', 'sha256', innerDigest.slice(7)), inner);
    await writeFile(
      join(merged, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.index.v1+json',
            digest: innerDigest,
            size: inner.length,
            annotations: { 'org.opencontainers.image.ref.name': 'v1' },
          },
        ],
      }),
    );
    const digestFile = join(work.path, 'digest');
    await run('skopeo', [
      'copy',
      '--quiet',
      '--all',
      '--dest-tls-verify=false',
      '--digestfile',
      digestFile,
      `oci:${merged}:v1`,
      `docker://${registry!.host}/ndt/multi:v1`,
    ]);
    const listDigest = (await readFile(digestFile, 'utf8')).trim();
    const arm = await pullImage({
      imageName: `${registry!.host}/ndt/multi`,
      imageDigest: listDigest,
      arch: 'arm64',
      tlsVerify: false,
      out: join(work.path, 'arm.tar'),
      log: () => undefined,
    });
    expect(arm.imageId).toBe(configs.arm64);
    expect(arm.manifestDigest).not.toBe(listDigest);
    const amd = await pullImage({
      imageName: `${registry!.host}/ndt/multi`,
      imageDigest: listDigest,
      arch: 'amd64',
      tlsVerify: false,
      out: join(work.path, 'amd.tar'),
      log: () => undefined,
    });
    expect(amd.imageId).toBe(configs.amd64);
    await expect(
      pullImage({
        imageName: `${registry!.host}/ndt/multi`,
        imageDigest: listDigest,
        arch: 'riscv64',
        tlsVerify: false,
        out: join(work.path, 'none.tar'),
      }),
    ).rejects.toThrow(/no manifest for linux\/riscv64 .*linux\/amd64, linux\/arm64/);
  });
});

// pullImage against a registry that attacks: each test makes the registry of
// hostile-registry.ts misbehave one way and checks that the pull stops early
// with a coded error and a hint, and leaves nothing behind (no output, no
// .partial file, no temporary directory).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pullImage, type PullImageOptions } from '../../../src/image/index.js';
import { OpError } from '../../../src/errors.js';
import { drip, endless, startHostileRegistry, type HostileRegistry } from './hostile-registry.js';

let reg: HostileRegistry;
let dir: string;
let outDir: string;
let tmp: string;
const savedTmp = process.env.TMPDIR;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-hostile-'));
  reg = await startHostileRegistry();
});
afterAll(async () => {
  process.env.TMPDIR = savedTmp;
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  // pullImage's temporary directory goes under TMPDIR: a directory of this test's own, checked empty after each.
  outDir = await mkdtemp(join(dir, 'out-'));
  tmp = await mkdtemp(join(dir, 'tmp-'));
  process.env.TMPDIR = tmp;
  reg.onBlob.clear();
});
afterEach(async () => {
  expect(await readdir(tmp)).toEqual([]);
  expect(await readdir(outDir)).toEqual([]);
});

const opts = (extra: Partial<PullImageOptions> = {}): PullImageOptions => ({
  imageName: reg.name,
  imageDigest: reg.digest,
  tlsVerify: false,
  out: join(outDir, 'img.tar'),
  log: () => undefined,
  ...extra,
});

async function failure(p: Promise<unknown>): Promise<OpError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpError);
  const e = err as OpError;
  expect(e.hint).toBeTruthy();
  expect(e.message).not.toContain('\n');
  return e;
}

const layerDigest = () => JSON.parse(reg.config.toString()).rootfs.diff_ids[0] as string;
const configDigest = () => `sha256:${createHash('sha256').update(reg.config).digest('hex')}`;
/** The standard manifest, as an object to alter and serve under its own digest. */
const standardManifest = async () =>
  JSON.parse(Buffer.from(await (await fetch(`http://${reg.host}/v2/hostile/img/manifests/${reg.digest}`)).arrayBuffer()).toString());

describe('pullImage from a hostile registry', () => {
  it('pulls from the well-behaved registry (the baseline the attacks change)', async () => {
    const r = await pullImage(opts());
    expect(r.imageId).toBe(configDigest());
    await rm(r.path);
  });

  it('stops reading an endless layer at its declared size', async () => {
    reg.onBlob.set(layerDigest(), endless());
    const t0 = Date.now();
    const e = await failure(pullImage(opts()));
    expect(e.code).toBe('image_digest');
    expect(e.message).toContain(`more than the ${reg.layer.length} bytes the manifest declares`);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('refuses a Content-Length other than the declared size before reading', async () => {
    reg.onBlob.set(layerDigest(), drip(Buffer.from('x'), 1000, { 'content-length': 10 ** 12 }));
    const e = await failure(pullImage(opts()));
    expect(e.message).toContain(`registry announces 1000000000000 bytes, the manifest says ${reg.layer.length}`);
  });

  it('never reads an endless config into memory: stops at its declared size', async () => {
    reg.onBlob.set(configDigest(), endless());
    const e = await failure(pullImage(opts()));
    expect(e.code).toBe('registry_image');
    expect(e.message).toMatch(/image config .* is larger than \d+ bytes/);
  });

  it('refuses a config declared bigger than 16 MiB without fetching it', async () => {
    const m = await standardManifest();
    m.config.size = 2 ** 40;
    const digest = reg.serveManifest(m);
    const before = reg.seen.length;
    const e = await failure(pullImage(opts({ imageDigest: digest })));
    expect(e.message).toContain('declares 1099511627776 bytes, more than the 16777216 accepted');
    expect(reg.seen.slice(before).some((u) => u.includes('/blobs/'))).toBe(false);
  });

  it('refuses digests that are not sha256:<hex> before using them in a URL or a file name', async () => {
    const m = await standardManifest();
    m.layers[0].digest = 'sha256:../../../../etc/passwd';
    const digest = reg.serveManifest(m);
    const e = await failure(pullImage(opts({ imageDigest: digest })));
    expect(e.code).toBe('registry_image');
    expect(e.message).toContain('digest "sha256:../../../../etc/passwd" is not sha256:<64 hex digits>');
    expect(reg.seen.some((u) => u.includes('etc/passwd') || u.includes('..%2F'))).toBe(false);
  });

  it('gives up on a registry sending 1 byte per second (minimum rate)', async () => {
    reg.onBlob.set(layerDigest(), drip(Buffer.from('x'), 1000));
    const t0 = Date.now();
    const e = await failure(pullImage(opts({ minRate: 100, rateWindow: 1 })));
    expect(e.code).toBe('registry_request');
    expect(e.message).toMatch(/too slow: \d+ bytes\/s over 1 s, below the minimum of 100/);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('gives up on a request past its deadline even at a fair rate', async () => {
    reg.onBlob.set(layerDigest(), drip(Buffer.alloc(512, 0x61), 20));
    const m = await standardManifest();
    m.layers[0].size = 10 ** 9;
    const digest = reg.serveManifest(m);
    const t0 = Date.now();
    const e = await failure(pullImage(opts({ imageDigest: digest, requestTimeout: 1.5, minRate: 1 })));
    expect(e.message).toContain('did not finish within the request deadline of 2 s');
    expect(Date.now() - t0).toBeLessThan(6_000);
  });

  it('an abort signal stops the pull and removes what it wrote', async () => {
    reg.onBlob.set(layerDigest(), drip(Buffer.alloc(100, 0x61), 50));
    const ac = new AbortController();
    const p = pullImage(opts({ signal: ac.signal }));
    setTimeout(() => ac.abort(new OpError('interrupted', 'interrupted (SIGTERM)', 'Run it again.')), 500);
    const e = await failure(p);
    expect(e.code).toBe('interrupted');
  });

  it("an error body is shown on one line, without the registry's control characters", async () => {
    reg.onBlob.set(reg.digest, (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('\x1b[2J\x1b[31mfake prompt$ \nsecond line\r\n');
    });
    const e = await failure(pullImage(opts()));
    expect(e.code).toBe('registry_request');
    expect(e.message).toMatch(/failed: HTTP 500 \[2J \[31mfake prompt\$ +second line$/);
    expect(e.message).not.toMatch(/[\u0000-\u001f]/);
  });

  it('rejects bad limits with a clear error', async () => {
    const e = await failure(pullImage(opts({ requestTimeout: -1 })));
    expect(e.code).toBe('image_options');
  });
});

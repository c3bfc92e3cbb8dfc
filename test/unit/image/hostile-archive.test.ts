// Base images made to attack the readers (tar-reader.ts, base-image.ts):
// size claims near 4 GiB, of 10 GiB or not numbers, oversized pax records
// and JSON members, and OCI digests that walk out of the layout. Each must
// fail with a coded one-line error and leave no temporary directory (the
// tar reader's archive_format errors reach the user as base_image ones).
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openBaseImage } from '../../../src/image/base-image.js';
import { OpError } from '../../../src/errors.js';
import { useBaseImageTmp } from './base-image-tmp.js';

const scratch = useBaseImageTmp('ndt-hostile-tar-');

/** A ustar header whose size field is written as given (so it can lie). */
function header(name: string, sizeField: string, flag = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  h.write(sizeField, 124, 12, 'ascii');
  h.write('00000000001\0', 136, 'ascii');
  h.write(flag, 156, 'ascii');
  h.write('ustar\0' + '00', 257, 'ascii');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}
const octal = (n: number) => n.toString(8).padStart(11, '0') + '\0';
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
const END = Buffer.alloc(1024);
function paxBody(records: Record<string, string>): Buffer {
  let out = '';
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len++;
    out += `${len}${body}`;
  }
  return Buffer.from(out);
}

async function archive(name: string, parts: Buffer[]): Promise<string> {
  const p = join(scratch.dir(), name);
  await writeFile(p, Buffer.concat(parts));
  return p;
}

async function failure(p: Promise<unknown>): Promise<OpError> {
  const err = await p.then(
    (img) => (img as { close(): Promise<void> }).close(),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpError);
  const e = err as OpError;
  expect(e.hint).toBeTruthy();
  expect(e.message).not.toContain('\n');
  return e;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('tar size claims', () => {
  it('a member claiming nearly 4 GiB is an error, not an abort of Node', async () => {
    const p = await archive('near4g.tar', [header('manifest.json', octal(0xfffffff0)), pad(Buffer.from('[]')), END]);
    const e = await failure(openBaseImage(p));
    expect(e.code).toBe('base_image');
    expect(e.message).toContain(`member "manifest.json" claims ${0xfffffff0} bytes, but the archive has only 1536 after its header`);
  });

  it('a 10 GiB claim (base-256) and a too big pax record are errors', async () => {
    const big = Buffer.alloc(12);
    big[0] = 0x80;
    big.writeUIntBE(10 * 1024 ** 3, 6, 6);
    const p = await archive('10g.tar', [header('manifest.json', big.toString('latin1')), pad(Buffer.from('[]')), END]);
    expect((await failure(openBaseImage(p))).message).toContain(`claims ${10 * 1024 ** 3} bytes`);
    const q = await archive('bigpax.tar', [header('PaxHeader', octal(2 * 1024 * 1024), 'x'), END]);
    expect((await failure(openBaseImage(q))).message).toContain('a pax or long-name record of 2097152 bytes');
  });

  it('a non-numeric pax size or octal size is an error naming it', async () => {
    const pax = paxBody({ size: 'abc' });
    const p = await archive('paxnan.tar', [
      header('PaxHeader', octal(pax.length), 'x'),
      pad(pax),
      header('manifest.json', octal(2)),
      pad(Buffer.from('[]')),
      END,
    ]);
    const e = await failure(openBaseImage(p));
    expect(e.code).toBe('base_image');
    expect(e.message).toContain('pax size of "manifest.json" is not a whole number below 2^53');
    const q = await archive('octnan.tar', [header('manifest.json', '12x4\0'), pad(Buffer.from('[]')), END]);
    expect((await failure(openBaseImage(q))).message).toContain('the size field of the tar header at byte 0 is not an octal number');
  });

  it('a JSON member bigger than 16 MiB is not read into memory', async () => {
    const body = Buffer.alloc(17 * 1024 * 1024, 0x20);
    const p = await archive('bigjson.tar', [header('manifest.json', octal(body.length)), pad(body), END]);
    expect((await failure(openBaseImage(p))).message).toContain(
      `member "manifest.json" is ${body.length} bytes, more than the 16777216 accepted`,
    );
  });
});

describe('OCI digests', () => {
  const secret = 'secret-host-content-do-not-echo';
  async function layout(indexDigest: string, blobs: Record<string, Buffer | string> = {}): Promise<string> {
    const d = await mkdtemp(join(scratch.dir(), 'oci-'));
    await mkdir(join(d, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(d, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(d, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ digest: indexDigest }] }));
    for (const [hex, data] of Object.entries(blobs)) {
      if (typeof data === 'string') await symlink(data, join(d, 'blobs', 'sha256', hex));
      else await writeFile(join(d, 'blobs', 'sha256', hex), data);
    }
    return d;
  }

  it('a digest walking out of an OCI layout is refused before any file is read', async () => {
    const victim = join(scratch.dir(), 'victim');
    await writeFile(victim, secret);
    const d = await layout(`sha256:../../../..${victim}`);
    const e = await failure(openBaseImage(d));
    expect(e.code).toBe('base_image');
    expect(e.message).toContain('is not sha256:<64 hex digits> or sha512:<128 hex digits>');
    expect(e.message).not.toContain(secret);
  });

  it('a blob that is not what its digest names is refused without echoing it', async () => {
    const hex = 'a'.repeat(64);
    const d = await layout(`sha256:${hex}`, { [hex]: Buffer.from(secret) });
    const e = await failure(openBaseImage(d));
    expect(e.message).toContain(`blob sha256:${hex} does not have that digest`);
    expect(e.message).not.toContain(secret);
  });

  it('a manifest that is not JSON is reported without its content', async () => {
    const body = Buffer.from(`${secret} not json`);
    const d = await layout(`sha256:${sha(body)}`, { [sha(body)]: body });
    const e = await failure(openBaseImage(d));
    expect(e.message).toMatch(/the manifest is not valid JSON \(\d+ bytes\)/);
    expect(e.message).not.toContain(secret);
  });

  it('a layer blob that is a symlink (to a host file) is refused', async () => {
    const victim = join(scratch.dir(), 'victim2');
    await writeFile(victim, secret);
    const vhex = sha(await readFile(victim));
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [`sha256:${vhex}`] } }));
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, config: { digest: `sha256:${sha(config)}` }, layers: [{ digest: `sha256:${vhex}` }] }),
    );
    const d = await layout(`sha256:${sha(manifest)}`, { [sha(manifest)]: manifest, [sha(config)]: config, [vhex]: victim });
    const e = await failure(openBaseImage(d));
    expect(e.message).toContain(`layer sha256:${vhex} is not a regular file`);
  });

  it("a digest walking out of an OCI archive's blobs is refused", async () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ digest: 'sha256:../../index.json' }] }));
    const p = await archive('oci.tar', [
      header('index.json', octal(index.length)),
      pad(index),
      header('oci-layout', octal(2)),
      pad(Buffer.from('{}')),
      END,
    ]);
    const e = await failure(openBaseImage(p));
    expect(e.message).toContain('digest "sha256:../../index.json" is not sha256:<64 hex digits>');
  });
});

describe("the config's values", () => {
  it('a diff_id that is not a digest is not quoted', async () => {
    const secret = 'secret-config-content-do-not-echo';
    const layer = Buffer.alloc(1024);
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [secret] } }));
    const manifest = Buffer.from(JSON.stringify([{ Config: 'c.json', Layers: ['l.tar'] }]));
    const p = await archive('diffid.tar', [
      header('manifest.json', octal(manifest.length)),
      pad(manifest),
      header('c.json', octal(config.length)),
      pad(config),
      header('l.tar', octal(layer.length)),
      layer,
      END,
    ]);
    const e = await failure(openBaseImage(p));
    expect(e.message).toMatch(/layer 1 has digest sha256:[0-9a-f]{64}, config says something that is not a sha256 digest/);
    expect(e.message).not.toContain(secret);
  });
});

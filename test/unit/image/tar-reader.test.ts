// The tar reader on archives written byte by byte (raw-tar.ts): global pax
// headers, skipped as the engine skips them; empty and non-UTF-8 pax values; entry types without data
// whatever their size field says;
// header checksums.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { paxMember, rawHeader, rawMember, readAll, writeRawTar } from './raw-tar.js';
import { OpError } from '../../../src/errors.js';
import { exportImage } from '../../../src/image/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-tar-reader-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('global pax headers', () => {
  it("are skipped as the engine's unpacking skips them: no record of theirs reaches any entry; an entry's own still does", async () => {
    const p = await writeRawTar(join(dir, 'global.tar'), [
      paxMember({ uname: 'global', gname: 'group', mtime: '7', path: 'renamed' }, 'g'),
      rawMember({ name: 'a', data: 'a' }),
      paxMember({ uname: 'local', mtime: '9' }),
      rawMember({ name: 'b', data: 'b' }),
      paxMember({ gname: 'group2', uid: '42' }, 'g'),
      rawMember({ name: 'c', data: 'c' }),
    ]);
    const read = (await readAll(p)).map((e) => [e.name, e.uname, e.gname, e.mtime, e.uid]);
    expect(read).toEqual([
      ['a', '', '', 1, 0],
      ['b', 'local', '', 9, 0],
      ['c', '', '', 1, 0],
    ]);
  });

  it('are still bounded in size and must fit in the archive', async () => {
    const big = await writeRawTar(join(dir, 'global-big.tar'), [
      rawMember({ name: 'pax_global_header', flag: 'g', size: 2 * 1024 * 1024, data: 'x' }),
      rawMember({ name: 'a', data: 'a' }),
    ]);
    await expect(readAll(big)).rejects.toThrow(/a pax or long-name record of 2097152 bytes/);
  });
});

describe('pax records as the engine reads them (Go archive/tar)', () => {
  it("an empty value keeps the header's field, as docker load unpacks it", async () => {
    const p = await writeRawTar(join(dir, 'empty-pax.tar'), [
      paxMember({ path: '' }),
      rawMember({ name: 'keepname', data: 'a' }),
      paxMember({ size: '', uname: '' }),
      rawMember({ name: 'keepsize', data: 'bb' }),
      rawMember({ name: 'after', data: 'c' }),
    ]);
    const read = (await readAll(p)).map((e) => [e.name, e.size, e.uname]);
    expect(read).toEqual([
      ['keepname', 1, ''],
      ['keepsize', 2, ''],
      ['after', 1, ''],
    ]);
  });

  it('a value whose bytes are not UTF-8 does not shift the records after it', async () => {
    const p = await writeRawTar(join(dir, 'latin1-pax.tar'), [
      paxMember({ path: Buffer.from('pax\xe9name', 'latin1'), uname: 'bob', gname: 'staff' }),
      rawMember({ name: 'x', data: 'x' }),
    ]);
    const [e] = await readAll(p);
    expect([e?.name, e?.uname, e?.gname]).toEqual(['pax\ufffdname', 'bob', 'staff']);
  });
});

describe('entries without data', () => {
  it('links, devices, directories and fifos have none, whatever their size field says (as Go and Python read them)', async () => {
    // A member written where the declared data would be is a member, not data.
    for (const flag of ['1', '2', '3', '4', '5', '6']) {
      const p = await writeRawTar(join(dir, `sized-${flag}.tar`), [
        rawHeader({ name: 'x', flag, size: 512, linkname: flag === '1' || flag === '2' ? 'target' : '' }),
        rawMember({ name: 'next', data: 'n' }),
      ]);
      expect((await readAll(p)).map((e) => [e.name, e.size])).toEqual([
        ['x', 0],
        ['next', 1],
      ]);
    }
  });
});

describe('header checksums', () => {
  it('a header whose checksum does not match its bytes is an error naming where it is', async () => {
    const p = await writeRawTar(join(dir, 'bad-sum.tar'), [
      rawMember({ name: 'ok', data: 'x' }),
      rawMember({ name: 'bad', data: 'y', checksum: '000000\0 ' }),
    ]);
    const err = await readAll(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).code).toBe('archive_format');
    expect((err as OpError).message).toBe(
      `${p}: the tar header at byte 1024 is damaged: its checksum does not match its bytes (or the archive is not a tar file there)`,
    );
    expect((err as OpError).hint).toBeTruthy();
  });

  it('a checksum summed over signed bytes (old tars; GNU tar takes it too) is accepted', async () => {
    const h = rawHeader({ name: 'caf\u00e9' });
    let signed = 0;
    for (let i = 0; i < 512; i++) signed += i >= 148 && i < 156 ? 0x20 : h[i]! < 128 ? h[i]! : h[i]! - 256;
    h.write(signed.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
    const p = await writeRawTar(join(dir, 'signed-sum.tar'), [h]);
    expect((await readAll(p)).map((e) => e.name)).toEqual(['caf\u00e9']);
  });
});

describe("errors never quote the file's bytes (README: Hostile archives)", () => {
  /** Rewrite a header's checksum after its fields were changed. */
  const resum = (h: Buffer) => {
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
    return h;
  };
  const secret = 'BEGINSECRETKEY';

  it('a file that is not a tar (a private key, random bytes) is said to be so, without its contents', async () => {
    const key = join(dir, 'key');
    const body = randomBytes(900).toString('base64');
    await writeFile(key, `-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\n`);
    const bin = join(dir, 'random');
    await writeFile(bin, randomBytes(2048));
    for (const f of [key, bin]) {
      const err = (await readAll(f).catch((e: unknown) => e)) as OpError;
      expect(err).toMatchObject({ code: 'archive_format' });
      expect(err.message).toBe(`${f}: not a tar archive: its first 512 bytes are not a tar header (their checksum does not match)`);
    }
    const out = join(dir, 'x.tar');
    const err = (await exportImage({ fromImage: key, out }).catch((e: unknown) => e)) as OpError;
    expect(err).toMatchObject({ code: 'base_image' });
    expect(err.message).not.toMatch(/BEGIN|PRIVATE/);
    expect(err.message).not.toContain(body.slice(0, 8));
  });

  it('a header field or pax value that is not a number is named, not quoted', async () => {
    const h = rawHeader({ name: 'a', data: '' });
    h.write(`${secret.slice(0, 11)}\0`, 124, 12, 'latin1');
    const p = await writeRawTar(join(dir, 'field.tar'), [rawMember({ name: 'ok', data: 'x' }), resum(h)]);
    const e1 = (await readAll(p).catch((e: unknown) => e)) as OpError;
    expect(e1.message).toBe(`${p}: the size field of the tar header at byte 1024 is not an octal number`);
    const q = await writeRawTar(join(dir, 'pax.tar'), [paxMember({ size: secret }), rawMember({ name: 'b', data: 'y' })]);
    const e2 = (await readAll(q).catch((e: unknown) => e)) as OpError;
    expect(e2.message).toBe(`${q}: pax size of "b" is not a whole number below 2^53`);
  });
});

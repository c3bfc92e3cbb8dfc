import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, writeFile, mkdir, symlink, link, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import * as tar from 'tar';
import { tarSize, writeTar, type TarEntry } from '../../../src/image/tar-writer.js';
import { readTarFile } from '../../../src/image/tar-reader.js';
import { treeEntries } from '../../../src/image/fs-entries.js';
import { measure, parseSha256, toNixBase32, fromNixBase32 } from '../../../src/image/digest.js';
import { writeFileAtomic } from '../../../src/image/output.js';
import { ChunkPool } from '../../../src/image/chunk-pool.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-tar-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const d = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 };

async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'b/sub'), { recursive: true });
  await writeFile(join(root, 'b/sub/file'), 'hello\n');
  await writeFile(join(root, 'a-file'), 'x');
  await chmod(join(root, 'a-file'), 0o4755);
  await link(join(root, 'a-file'), join(root, 'hard'));
  await symlink('b/sub/file', join(root, 'link'));
  const long = 'd'.repeat(120);
  await mkdir(join(root, long, 'e'.repeat(90)), { recursive: true });
  await writeFile(join(root, long, 'e'.repeat(90), 'f'.repeat(110)), 'long');
}

describe('tar writer', () => {
  it('writes sorted, normalised entries that GNU tar and node-tar read back', async () => {
    const root = join(dir, 'tree');
    await makeTree(root);
    const entries = await treeEntries(root, '', d);
    const out = join(dir, 'out.tar');
    await writeFileAtomic(out, writeTar(entries));
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', out], { encoding: 'utf8' });
    expect(listing).toContain('-rwsr-xr-x 0/0');
    expect(listing).toContain('hard');
    expect(listing).not.toContain(' link to ');
    expect(listing).toContain('link -> b/sub/file');
    expect(listing).toMatch(/1970-01-01 00:00/);
    const names: string[] = [];
    await tar.t({
      file: out,
      onReadEntry: (e) => {
        names.push(e.path);
      },
    });
    expect(names).toContain(`${'d'.repeat(120)}/${'e'.repeat(90)}/${'f'.repeat(110)}`);
    const read = [];
    for await (const e of readTarFile(out)) read.push(e);
    expect(read.map((e) => e.name)).toEqual(entries.map((e) => e.name));
    expect(read.find((e) => e.name === 'hard')?.type).toBe('file');
    expect(read.find((e) => e.name === 'hard')?.size).toBe(1);
    const sorted = [...read.map((e) => e.name)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(read.map((e) => e.name)).toEqual(sorted);
  });

  it('gives identical bytes for identical trees in different directories', async () => {
    await makeTree(join(dir, 'one'));
    await makeTree(join(dir, 'two'));
    const a = await measure(writeTar(await treeEntries(join(dir, 'one'), '', d)));
    const b = await measure(writeTar(await treeEntries(join(dir, 'two'), '', d)));
    expect(a).toEqual(b);
  });

  it("knows the archive's size from the entries alone, pax records included", async () => {
    const root = join(dir, 'sized');
    await makeTree(root);
    await writeFile(join(root, 'big'), Buffer.alloc(3 << 20, 7));
    const entries: TarEntry[] = [
      ...(await treeEntries(root, '', d)),
      {
        name: 'ids',
        type: 'file',
        mode: 0o644,
        uid: 10_000_000,
        gid: 0,
        uname: 'u'.repeat(40),
        gname: 'g',
        mtime: -5,
        size: 2,
        data: Buffer.from('hi'),
      },
      { name: 'lnk', type: 'symlink', mode: 0o777, uid: 0, gid: 0, uname: 'u', gname: 'g', mtime: 1, size: 0, linkname: 't'.repeat(101) },
    ];
    for (const end of [true, false]) expect(tarSize(entries, { end })).toBe((await measure(writeTar(entries, { end }))).size);
  });

  it('uses pax records for big ids', async () => {
    const e: TarEntry = {
      name: 'x',
      type: 'file',
      mode: 0o644,
      uid: 10_000_000,
      gid: 0,
      uname: 'u',
      gname: 'g',
      mtime: 1,
      size: 2,
      data: Buffer.from('hi'),
    };
    const out = join(dir, 'pax.tar');
    await writeFileAtomic(out, writeTar([e]));
    const read = [];
    for await (const r of readTarFile(out)) read.push(r);
    expect(read[0]?.uid).toBe(10_000_000);
    expect(execFileSync('tar', ['--numeric-owner', '-tvf', out], { encoding: 'utf8' })).toContain('10000000/0');
  });

  it('uses pax records for long link targets and keeps device numbers', async () => {
    const target = `/${'t'.repeat(150)}/x`;
    const entries: TarEntry[] = [
      { name: 'dev/null', type: 'char', mode: 0o666, ...d, size: 0, devmajor: 1, devminor: 3 },
      { name: 'l', type: 'symlink', mode: 0o777, ...d, size: 0, linkname: target },
    ];
    const out = join(dir, 'links.tar');
    await writeFileAtomic(out, writeTar(entries));
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', out], { encoding: 'utf8' });
    expect(listing).toContain(`l -> ${target}`);
    expect(listing).toMatch(/crw-rw-rw- 0\/0\s+1,3/);
    const read = [];
    for await (const r of readTarFile(out)) read.push(r);
    expect(read.map((r) => [r.name, r.linkname, r.devmajor, r.devminor])).toEqual([
      ['dev/null', '', 1, 3],
      ['l', target, 0, 0],
    ]);
  });

  it('reads a host file to its listed size exactly: one that grew or shrank since it was listed fails, one that did not is whole at any cut of the chunks', async () => {
    const file = join(dir, 'sized-file');
    const pool = new ChunkPool(4096, 8);
    for (const size of [0, 1, 511, 512, 4095 - 512, 4096 - 512, 4097 - 512, 3 * 4096 + 7]) {
      const bytes = Buffer.alloc(size, 7);
      await writeFile(file, bytes);
      const e = (listed: number): TarEntry => ({ name: 'f', type: 'file', mode: 0o644, ...d, size: listed, hostPath: file });
      const chunks: Buffer[] = [];
      for await (const c of writeTar([e(size)], { pool })) chunks.push(Buffer.from(c));
      const out = Buffer.concat(chunks);
      expect(out.length).toBe(512 + Math.ceil(size / 512) * 512 + 1024);
      expect(out.subarray(512, 512 + size).equals(bytes)).toBe(true);
      await expect(measure(writeTar([e(size + 1)], { pool }))).rejects.toThrow(/changed while being archived/);
      if (size > 0) await expect(measure(writeTar([e(size - 1)], { pool }))).rejects.toThrow(/grew while being archived/);
    }
  });

  it('rejects a file that changes size while archived', async () => {
    const e: TarEntry = { name: 'x', type: 'file', mode: 0o644, ...d, size: 5, data: Buffer.from('hi') };
    await expect(measure(writeTar([e]))).rejects.toThrow(/changed while being archived/);
  });
});

describe('hash notations', () => {
  it('parses hex, SRI and Nix base32', () => {
    const hex = 'a'.repeat(64);
    const buf = Buffer.from(hex, 'hex');
    expect(parseSha256(hex)).toBe(`sha256:${hex}`);
    expect(parseSha256(`sha256-${buf.toString('base64')}`)).toBe(`sha256:${hex}`);
    expect(fromNixBase32(toNixBase32(buf)).toString('hex')).toBe(hex);
    expect(parseSha256(toNixBase32(buf))).toBe(`sha256:${hex}`);
    // nix hash to-base32 of sha256("") is well known
    expect(parseSha256('0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73')).toBe(
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});

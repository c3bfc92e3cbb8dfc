// The tar writer's headers, byte for byte: image digests and a sync's archive
// depend on them, so a faster way of writing them must write the same bytes.
// The digest is that of the headers the writer made before it wrote them in
// place (ustar fields, pax records for long names and links, big ids, sizes,
// out-of-range and nanosecond mtimes, long user and group names).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { writeHeaderAt } from '../../../src/image/tar-header.js';
import { entryHeader, tarSize, type TarEntry, type TarEntryType } from '../../../src/image/tar-writer.js';

function entries(): TarEntry[] {
  const names = [
    'a',
    'dir/sub/file',
    'ü/naïve/文件',
    'x'.repeat(100),
    'x'.repeat(101),
    'p'.repeat(150) + '/' + 'n'.repeat(90),
    'p'.repeat(160) + '/' + 'n'.repeat(90),
    'é'.repeat(49) + '/' + 'ü'.repeat(60),
    'q'.repeat(300),
  ];
  const links = [undefined, 'target', 'l'.repeat(101), 'ü'.repeat(51)];
  const users = [
    ['', ''],
    ['root', 'root'],
    ['u'.repeat(32), 'g'.repeat(33)],
  ] as const;
  const ids = [0, 1000, 0o7777777, 0o10000000];
  const mtimes = [0, 1765000000, 0o77777777777 + 1, -5];
  const nsecs = [undefined, 0, 123456789];
  const sizes = [0, 3, 0o77777777777 + 1];
  const types: TarEntryType[] = ['file', 'dir', 'symlink', 'hardlink', 'char', 'fifo'];
  const out: TarEntry[] = [];
  for (let i = 0; i < 400; i++) {
    const at = <T>(a: readonly T[], k: number): T => a[(i * k + k) % a.length]!;
    const [uname, gname] = at(users, 7);
    const e: TarEntry = {
      name: at(names, 1),
      type: at(types, 3),
      mode: at([0o644, 0o4755], 5),
      uid: at(ids, 11),
      gid: at(ids, 13),
      uname,
      gname,
      mtime: at(mtimes, 17),
      size: at(sizes, 19),
    };
    const ns = at(nsecs, 23);
    if (ns !== undefined) e.mtimeNsec = ns;
    const link = at(links, 29);
    if (link !== undefined) e.linkname = link;
    out.push(e);
  }
  return out;
}

describe('tar headers', () => {
  it('are the same bytes as before they were written in place', () => {
    const h = createHash('sha256');
    let withPax = 0;
    let bytes = 0;
    for (const e of entries()) {
      const b = entryHeader(e);
      if (b.length > 512) withPax++;
      bytes += b.length;
      h.update(b);
    }
    expect(withPax).toBe(378);
    expect(
      tarSize(entries(), { end: false }) -
        entries().reduce((n, e) => n + (e.type === 'file' ? e.size + ((512 - (e.size % 512)) % 512) : 0), 0),
    ).toBe(bytes);
    expect(h.digest('hex')).toBe('587d82b9a45952684a17040c07a20110b1912041b8e3eaaf1928c022a0ed3541');
  });
});

describe('headers written in place', () => {
  it('are the bytes entryHeader makes, for every entry that is one block (and nothing is written for the others)', () => {
    const simple: TarEntry[] = [];
    for (const name of ['a', 'bin/sh', 'x'.repeat(99), 'ü/文件', 'y'.repeat(98) + 'é'])
      for (const type of ['file', 'dir', 'symlink', 'hardlink', 'fifo', 'char'] as TarEntryType[])
        for (const [uid, uname] of [
          [0, 'root'],
          [1000, ''],
        ] as const)
          simple.push({
            name,
            type,
            mode: 0o4755,
            uid,
            gid: uid,
            uname,
            gname: uname,
            mtime: 1765000000,
            size: 12345,
            linkname: type === 'symlink' ? 'l'.repeat(100) : undefined,
          });
    let inPlace = 0;
    for (const e of [...simple, ...entries()]) {
      const out = Buffer.alloc(512 * 3, 0xee);
      const written = writeHeaderAt(out, 512, e);
      const want = entryHeader(e);
      if (written) {
        inPlace++;
        expect(want.length).toBe(512);
        expect(out.subarray(512, 1024).equals(want)).toBe(true);
      }
      expect(out.subarray(0, 512).every((b) => b === 0xee) && out.subarray(1024).every((b) => b === 0xee)).toBe(true);
      if (!written) expect(out.subarray(512, 1024).every((b) => b === 0xee)).toBe(true);
    }
    // Every one-block entry but the devices and the names of 100 bytes or more (those that need the ustar prefix, or fit only without a directory's "/").
    const oneBlock = [...simple, ...entries()].filter(
      (e) => e.type !== 'char' && e.type !== 'block' && Buffer.byteLength(e.name) < 100 && entryHeader(e).length === 512,
    ).length;
    expect(inPlace).toBe(oneBlock);
    expect(inPlace).toBeGreaterThan(simple.length / 2);
  });
});

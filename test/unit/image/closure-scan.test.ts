import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanClosure } from '../../../src/image/closure.js';

// The scan finds references with indexOf on common prefixes and reads small
// files in one call; these cases pin what it must still find: references in
// small files, in symlink targets, across the 1 MiB read boundary of big
// files, store paths found transitively, and missing store paths dropped.
describe('scanClosure', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ndt-scan-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("finds contents' paths and store paths in files, symlinks and across read boundaries", async () => {
    const store = join(dir, 'store');
    const sp = (c: string, name: string) => `${store}/${c.repeat(32)}-${name}`;
    const plain = [join(dir, 'plain-one'), join(dir, 'plain-two'), join(dir, 'plain-three')];
    for (const p of plain) await mkdir(p, { recursive: true });
    for (const [c, n] of [
      ['a', 'alpha'],
      ['b', 'beta-1.0'],
      ['c', 'gamma'],
      ['d', 'delta'],
    ] as const)
      await mkdir(sp(c, n), { recursive: true });
    await writeFile(join(plain[0]!, 'conf'), `PATH=${sp('a', 'alpha')}/bin:${plain[2]}/x\n`);
    await writeFile(join(plain[1]!, 'nothing'), 'no references here /nix/store/ /tmp\n');
    const big = Buffer.alloc((3 << 20) + 17, 0);
    Buffer.from(sp('b', 'beta-1.0')).copy(big, (1 << 20) - 9); // straddles the first 1 MiB boundary
    Buffer.from(plain[1]!).copy(big, (2 << 20) - 3); // and the second
    await writeFile(join(sp('a', 'alpha'), 'big'), big);
    await symlink(`${sp('c', 'gamma')}/lib`, join(sp('b', 'beta-1.0'), 'l'));
    await writeFile(join(sp('c', 'gamma'), 'f'), `${sp('z', 'missing')} ${sp('d', 'delta')}-not-this-name\n${sp('d', 'delta')}/ok`);

    const graph = await scanClosure([plain[0]!, plain[1]!, plain[2]!], store);
    const refs = Object.fromEntries(graph.map((n) => [n.path, n.references]));
    expect(refs[plain[0]!]).toEqual([plain[2]!, sp('a', 'alpha')].sort());
    expect(refs[plain[1]!]).toEqual([]);
    expect(refs[sp('a', 'alpha')]).toEqual([plain[1]!, sp('b', 'beta-1.0')].sort());
    expect(refs[sp('b', 'beta-1.0')]).toEqual([sp('c', 'gamma')]);
    // "<delta>-not-this-name" is another (missing) path; "<delta>/ok" is delta
    expect(refs[sp('c', 'gamma')]).toEqual([sp('d', 'delta')]);
    expect(graph.map((n) => n.path)).not.toContain(sp('z', 'missing'));
  });

  it("with no store on this machine, still finds the contents' paths (big files included) and no store path", async () => {
    const store = join(dir, 'no-such-store');
    const plain = [join(dir, 'nostore-one'), join(dir, 'nostore-two')];
    for (const p of plain) await mkdir(p, { recursive: true });
    const big = Buffer.alloc((2 << 20) + 5, 0);
    Buffer.from(plain[1]!).copy(big, (1 << 20) - 7); // across the 1 MiB boundary
    Buffer.from(`${store}/${'e'.repeat(32)}-epsilon`).copy(big, 100);
    await writeFile(join(plain[0]!, 'big'), big);
    await symlink(`${store}/${'f'.repeat(32)}-phi/bin`, join(plain[1]!, 'l'));
    const graph = await scanClosure(plain, store);
    expect(Object.fromEntries(graph.map((n) => [n.path, n.references]))).toEqual({ [plain[0]!]: [plain[1]!], [plain[1]!]: [] });
    expect(graph.find((n) => n.path === plain[0])?.narSize).toBeGreaterThanOrEqual(big.length);
  });
});

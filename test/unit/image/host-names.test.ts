// Names on the host that are not UTF-8 (a Latin-1 "café" unpacked from an old
// archive): Node reads them as U+FFFD, so the toolkit looked the file up under
// a name it does not have (a bare ENOENT) and wrote a symlink pointing
// elsewhere without a word. Each is an input_path error naming the bytes;
// a name that is valid UTF-8 and holds U+FFFD itself goes in as it is.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLayeredImage, streamLayeredImage } from '../../../src/image/index.js';
import { treeEntriesSync } from '../../../src/image/fs-entries.js';
import { scanClosure } from '../../../src/image/closure.js';
import { OpError } from '../../../src/errors.js';

let dir: string;
const latin1 = (s: string) => Buffer.from(s, 'latin1');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ndt-host-names-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh contents directory with `make` run in it. */
function contents(name: string, make: (root: string) => void): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'ok'), 'fine\n');
  make(root);
  return root;
}

async function failure(run: () => Promise<unknown>): Promise<OpError> {
  const err = await run().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpError);
  return err as OpError;
}

describe('host names that are not UTF-8, in the image toolkit', () => {
  it('a file name: input_path naming its bytes and directory, no archive left', async () => {
    const root = contents('file', (r) => writeFileSync(Buffer.concat([latin1(`${r}/etc/caf`), Buffer.from([0xe9]), latin1('.txt')]), 'x'));
    const out = join(dir, 'file.tar');
    const err = await failure(() => buildLayeredImage({ name: 'ndt-test/names', contents: [root], out }));
    expect(err.code).toBe('input_path');
    expect(err.message).toBe(`The name "caf\\xe9.txt" in ${root}/etc is not valid UTF-8`);
    expect(err.hint).toMatch(/Rename it .*UTF-8.*or leave it out/);
    expect(existsSync(out)).toBe(false);
    // The listing alone, and the closure scan (which reads every name too).
    expect(() => treeEntriesSync(root, '', { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1 })).toThrow(/caf\\xe9\.txt/);
    await expect(scanClosure([root])).rejects.toThrow(/caf\\xe9\.txt/);
  });

  it('a directory name: said at its parent, nothing below it read', async () => {
    const root = contents('dir', (r) => {
      const d = Buffer.concat([latin1(`${r}/`), Buffer.from([0xc4]), latin1('rger')]);
      mkdirSync(d);
      writeFileSync(Buffer.concat([d, latin1('/inside')]), 'x');
    });
    const err = await failure(async () => {
      const s = await streamLayeredImage({ name: 'ndt-test/names', contents: [root] });
      for await (const _ of s.stream) void _;
    });
    expect(err.code).toBe('input_path');
    expect(err.message).toBe(`The name "\\xc4rger" in ${root} is not valid UTF-8`);
  });

  it("a symlink's target: input_path instead of a link that points elsewhere in the image", async () => {
    const root = contents('link', (r) => symlinkSync(Buffer.concat([latin1('caf'), Buffer.from([0xe9])]), `${r}/etc/link`));
    const err = await failure(() => buildLayeredImage({ name: 'ndt-test/names', contents: [root], out: join(dir, 'link.tar') }));
    expect(err.code).toBe('input_path');
    expect(err.message).toBe(`The target "caf\\xe9" of the symlink ${root}/etc/link is not valid UTF-8`);
  });

  it('a valid UTF-8 name that holds U+FFFD itself goes in unchanged', async () => {
    const root = contents('fffd', (r) => {
      writeFileSync(`${r}/etc/odd\uFFFDname`, 'x');
      symlinkSync('to\uFFFD', `${r}/etc/odd-link`);
    });
    const out = join(dir, 'fffd.tar');
    await buildLayeredImage({ name: 'ndt-test/names', contents: [root], out, maxLayers: 2 });
    // The layers as GNU tar lists them ("name -> target" for a symlink).
    const x = join(dir, 'fffd-x');
    mkdirSync(x);
    execFileSync('tar', ['-xf', out, '-C', x]);
    const layers = execFileSync('tar', ['-tf', out], { encoding: 'utf8' })
      .split('\n')
      .filter((n) => n.endsWith('.tar'));
    const listed = layers.map((l) => execFileSync('tar', ['-tvf', join(x, l)], { encoding: 'utf8' })).join('');
    const names = listed.split('\n').map((line) => line.split(/\s+/).slice(5).join(' '));
    expect(names).toContain('etc/odd\uFFFDname');
    expect(names).toContain('etc/odd-link -> to\uFFFD');
  });
});

import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contextFiles } from '../../src/engine/build-context.js';
import { isIgnored, parseDockerignore } from '../../src/engine/dockerignore.js';
import { OpError } from '../../src/errors.js';

describe('.dockerignore', () => {
  const rules = parseDockerignore(`
# comment
*.log
!keep.log
build/
**/secret*
/docs/*.md
tmp?
`);
  const cases: Array<[string, boolean]> = [
    ['a.log', true],
    ['keep.log', false],
    ['sub/a.log', false], // *.log is anchored at the root
    ['build', true],
    ['build/x/y.c', true],
    ['secret.txt', true],
    ['deep/er/secret.key', true],
    ['docs/a.md', true],
    ['docs/sub/a.md', false],
    ['tmp1', true],
    ['tmp12', false],
    ['Dockerfile', false],
  ];
  for (const [path, ignored] of cases) {
    it(`${path} is ${ignored ? '' : 'not '}ignored`, () => expect(isIgnored(rules, path)).toBe(ignored));
  }
});

describe('build context', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndt-ctx-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists files sorted, honours .dockerignore, always keeps the Dockerfile', async () => {
    mkdirSync(join(dir, 'big/keep'), { recursive: true });
    for (const f of ['Dockerfile', 'b.txt', 'a.txt', 'big/huge.bin', 'big/keep/me.txt', 'x.log']) writeFileSync(join(dir, f), f);
    writeFileSync(join(dir, '.dockerignore'), 'Dockerfile\nbig\n!big/keep\n*.log\n');
    expect(await contextFiles(dir, 'Dockerfile')).toEqual(['.dockerignore', 'Dockerfile', 'a.txt', 'b.txt', 'big/keep/me.txt']);
  });

  // Node reads a name that is not UTF-8 with U+FFFD: it was looked up under that name (a bare ENOENT from lstat),
  // and a symlink's target would have been sent as U+FFFD. Each is named, with what to do, unless .dockerignore leaves it out.
  it('names what is not UTF-8 (names, a symlink target) as input_path, unless .dockerignore leaves it out', async () => {
    const ctx = mkdtempSync(join(tmpdir(), 'ndt-ctx-latin1-'));
    const bytes = (...parts: (string | number)[]) =>
      Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p, 'latin1'))));
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    writeFileSync(bytes(ctx, '/caf', 0xe9, '.txt'), 'x');
    mkdirSync(join(ctx, 'docs'));
    mkdirSync(bytes(ctx, '/docs/', 0xc4, 'rger'));
    writeFileSync(bytes(ctx, '/docs/', 0xc4, 'rger/inside'), 'x');
    symlinkSync(bytes('caf', 0xe9), join(ctx, 'link'));
    symlinkSync('to\uFFFD', join(ctx, 'odd-link'));
    writeFileSync(join(ctx, 'plain.txt'), 'x');
    const err = await contextFiles(ctx, 'Dockerfile').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).code).toBe('input_path');
    expect((err as OpError).message).toBe(
      `The build context ${ctx} holds 3 names that are not valid UTF-8: "caf\\xe9.txt", "docs/\\xc4rger", "link -> caf\\xe9"`,
    );
    expect((err as OpError).hint).toBe(
      `Rename them to UTF-8 (convmv -f latin1 -t utf8 renames Latin-1 names), or list them in ${join(ctx, '.dockerignore')} with * in place of the bytes shown as \\xNN (e.g. caf*.txt).`,
    );
    // What the hint says works; a valid name holding U+FFFD itself (odd-link's target) goes as it is.
    writeFileSync(join(ctx, '.dockerignore'), 'caf*.txt\ndocs/*rger\nlink\n');
    expect(await contextFiles(ctx, 'Dockerfile')).toEqual(['.dockerignore', 'Dockerfile', 'docs', 'odd-link', 'plain.txt']);
    rmSync(ctx, { recursive: true, force: true });
  });
});

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contextFiles } from '../../src/engine/build-context.js';
import { isIgnored, parseDockerignore } from '../../src/engine/dockerignore.js';

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
});

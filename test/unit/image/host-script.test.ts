// extraCommands stop at the first failing command, as their failure hint says (sh -e) and as nixpkgs runs
// them (its shellScript has `set -e`, mkPureLayer's builder runs under stdenv's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHostScript } from '../../../src/image/host-script.js';
import { buildImage, buildLayeredImage } from '../../../src/image/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-host-script-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runHostScript', () => {
  it('stops at the first failing command', async () => {
    const cwd = await mkdtemp(join(dir, 'cwd-'));
    await expect(runHostScript('false; echo after > marker', cwd)).rejects.toMatchObject({
      shortMessage: expect.stringMatching(/failed with exit code 1/),
    });
    expect(await readdir(cwd)).toEqual([]);
  });

  it('still runs a script whose commands succeed, with umask 022', async () => {
    const cwd = await mkdtemp(join(dir, 'cwd-'));
    await runHostScript('true; echo ok > marker; [ "$(umask)" = 0022 ]', cwd);
    expect(await readdir(cwd)).toEqual(['marker']);
  });
});

describe('extraCommands in the builders', () => {
  it('a failing command fails buildLayeredImage and buildImage, before the next one runs', async () => {
    const app = join(dir, 'app');
    await mkdir(app, { recursive: true });
    await writeFile(join(app, 'f'), 'x\n');
    const script = 'false; echo after > marker';
    for (const [what, build] of [
      ['layered', (out: string) => buildLayeredImage({ name: 'x', contents: [app], extraCommands: script, out })],
      ['image', (out: string) => buildImage({ name: 'x', copyToRoot: app, extraCommands: script, out })],
    ] as const) {
      const out = join(dir, `${what}.tar`);
      await expect(build(out), what).rejects.toMatchObject({ code: 'extra_commands' });
      await expect(readdir(dir)).resolves.not.toContain(`${what}.tar`);
    }
  });
});

// The image toolkit given a rootfs that holds what the user running it
// cannot read (a `chmod 000` file, a directory it cannot list or search):
// an input_path error naming the path and what to do, from the CLI and the
// library alike; no image file, no temporary file, nothing loaded into the
// engine. They run in children without the capabilities that let root read
// everything (helpers/no-dac.ts), from the bundle (npm run build).
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDacDropped, runWithoutDac } from '../helpers/no-dac.js';
import { docker, engineAnswers, tempDir } from './helpers.js';

const PRIV = resolve(import.meta.dirname, '../../../priv');
const HINT =
  'Make it readable by the user running this (chmod, chown), or leave it out of the directories given to the image; rerunning as it is does not help.';

// argv: priv/index.mjs, the rootfs, the output; prints the error's code and message.
const LIBRARY = `
const [index, rootfs, out] = process.argv.slice(1);
const { buildLayeredImage } = await import(index);
try {
  await buildLayeredImage({ name: 'ndt-unreadable', contents: [rootfs], out });
  console.log(JSON.stringify({ ok: true }));
} catch (err) {
  console.log(JSON.stringify({ code: err.code, message: err.message, hint: err.hint }));
}
`;

describe('image toolkit: a rootfs this user cannot read', () => {
  let work: { path: string; remove(): Promise<void> };
  let rootfs = '';
  let out = '';
  let tmp = '';
  const env = () => ({ ...process.env, TMPDIR: tmp });
  const cli = (...args: string[]) => runWithoutDac(['node', join(PRIV, 'nerves-docker.mjs'), 'image', ...args], { env: env() });
  const refused = (what: string) => `this user (uid 0) ${what}\n${HINT}\n`;

  beforeAll(async () => {
    if (!existsSync(join(PRIV, 'nerves-docker.mjs'))) throw new Error('priv/ is not built: run `npm run build` (make test does).');
    work = await tempDir('ndt-image-unreadable-');
    rootfs = join(work.path, 'rootfs');
    out = join(work.path, 'out');
    tmp = join(work.path, 'tmp');
    for (const d of [join(rootfs, 'etc'), out, tmp]) mkdirSync(d, { recursive: true });
    writeFileSync(join(rootfs, 'etc/hello'), 'hello\n');
    const probe = join(work.path, 'probe');
    writeFileSync(probe, 'x');
    chmodSync(probe, 0);
    checkDacDropped(probe);
  });
  afterAll(async () => {
    chmodSync(rootfs, 0o755);
    await work?.remove();
  });

  /** Nothing written: no image, no temporary file beside it or in TMPDIR. */
  const nothingLeft = () => expect([...readdirSync(out), ...readdirSync(tmp)]).toEqual([]);

  it('a chmod 000 file: every builder names it', () => {
    writeFileSync(join(rootfs, 'etc/secret'), 'secret\n');
    chmodSync(join(rootfs, 'etc/secret'), 0);
    const message = refused(`cannot read ${join(rootfs, 'etc/secret')} (permission denied)`);
    for (const [cmd, ...args] of [
      ['build-image', '--copy-to-root', rootfs, '--out', join(out, 'image.tar')],
      ['build-image', '--copy-to-root', rootfs, '--out', join(out, 'oci'), '--format', 'oci'],
      ['build-layered-image', '--contents', rootfs, '--out', join(out, 'layered.tar')],
      ['stream-layered-image', '--contents', rootfs],
    ]) {
      const r = cli(cmd!, '--name', 'ndt-unreadable', ...args);
      expect({ cmd, status: r.status, stderr: r.stderr }).toEqual({ cmd, status: 65, stderr: `nerves-docker image ${cmd}: ${message}` });
    }
    nothingLeft();
    const lib = runWithoutDac(['node', '--input-type=module', '-e', LIBRARY, join(PRIV, 'index.mjs'), rootfs, join(out, 'lib.tar')], {
      env: env(),
    });
    expect(JSON.parse(lib.stdout)).toEqual({
      code: 'input_path',
      message: `this user (uid 0) cannot read ${join(rootfs, 'etc/secret')} (permission denied)`,
      hint: HINT,
    });
    nothingLeft();
    chmodSync(join(rootfs, 'etc/secret'), 0o644);
  });

  it('a directory it cannot list, one it cannot search: named as such', () => {
    mkdirSync(join(rootfs, 'locked/inner'), { recursive: true });
    chmodSync(join(rootfs, 'locked'), 0);
    for (const cmd of ['build-image', 'build-layered-image']) {
      const flag = cmd === 'build-image' ? '--copy-to-root' : '--contents';
      const r = cli(cmd, '--name', 'ndt-unreadable', flag, rootfs, '--out', join(out, 'image.tar'));
      expect(r.stderr).toBe(
        `nerves-docker image ${cmd}: ${refused(`cannot list the directory ${join(rootfs, 'locked')} (permission denied)`)}`,
      );
    }
    chmodSync(join(rootfs, 'locked'), 0o644);
    for (const cmd of ['build-image', 'build-layered-image']) {
      const flag = cmd === 'build-image' ? '--copy-to-root' : '--contents';
      const r = cli(cmd, '--name', 'ndt-unreadable', flag, rootfs, '--out', join(out, 'image.tar'));
      expect(r.stderr).toBe(
        `nerves-docker image ${cmd}: ${refused(`cannot look up the names in the directory ${join(rootfs, 'locked')} (no search (x) permission)`)}`,
      );
    }
    nothingLeft();
    chmodSync(join(rootfs, 'locked'), 0o755);
  });

  // (Was a unit test skipped as root, so it never ran here.)
  it('an output directory it cannot write in: the output named, not a temporary file', () => {
    const locked = join(work.path, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    const r = cli('build-layered-image', '--name', 'x', '--contents', join(rootfs, 'etc'), '--out', join(locked, 'o.tar'));
    chmodSync(locked, 0o755);
    expect(r.status).toBe(65);
    expect(r.stderr).toContain(`out (--out): cannot write ${join(locked, 'o.tar')}: ${locked} is not writable (permission denied)`);
    expect(readdirSync(locked)).toEqual([]);
  });

  it('stream-layered-image --load: the error, and no image in the engine', async () => {
    if (!(await engineAnswers())) throw new Error('No Docker engine answers: run scripts/docker-engine (make test does).');
    writeFileSync(join(rootfs, 'etc/secret'), 'secret\n');
    chmodSync(join(rootfs, 'etc/secret'), 0);
    const name = `localhost/ndt-unreadable-${process.pid}`;
    const r = cli('stream-layered-image', '--name', name, '--tag', 't', '--contents', rootfs, '--load');
    expect(r.stderr).toBe(
      `nerves-docker image stream-layered-image: ${refused(`cannot read ${join(rootfs, 'etc/secret')} (permission denied)`)}`,
    );
    expect(r.status).toBe(65);
    expect(await docker.listImages({ filters: JSON.stringify({ reference: [name] }) })).toEqual([]);
    nothingLeft();
    chmodSync(join(rootfs, 'etc/secret'), 0o644);
  });
});

// `nerves-docker image stream-layered-image --load` (the bundled CLI, as a
// user runs it): the image goes straight into the engine, no docker CLI, and
// the result is printed on stdout; an engine that does not answer is said
// before anything is built, with its address and what to do, and nothing is
// left behind.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Cleanup, busyboxRootfs, docker, engineAnswers, runIn, tempDir } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const CLI = resolve(import.meta.dirname, '../../../priv/nerves-docker.mjs');
const exec = promisify(execFile);
const engine = await engineAnswers();

describe.skipIf(!engine)('nerves-docker image stream-layered-image --load', () => {
  const cleanup = new Cleanup();
  let work: { path: string; remove(): Promise<void> };
  let rootfs: string;
  let app: string;
  let tmp: string;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('priv/ is not built: run `npm run build` (make test does).');
    work = await tempDir('ndt-stream-load-');
    rootfs = await busyboxRootfs(join(work.path, 'rootfs'));
    app = join(work.path, 'app');
    tmp = join(work.path, 'tmp');
    await mkdir(join(app, 'etc'), { recursive: true });
    await mkdir(tmp);
    await writeFile(join(app, 'etc', 'greeting'), 'hello through --load\n');
  });
  afterAll(async () => {
    await cleanup.run();
    await work?.remove();
  });

  const args = (name: string) => [
    'image',
    'stream-layered-image',
    '--name',
    name,
    '--tag',
    't1',
    '--contents',
    rootfs,
    '--contents',
    app,
    '--load',
  ];

  it('loads the image into the engine and prints the result on stdout', async () => {
    cleanup.images.add('ndt-test/stream-load:t1');
    const r = await exec(process.execPath, [CLI, ...args('ndt-test/stream-load'), '--config', '{"Cmd":["/bin/cat","/etc/greeting"]}'], {
      env: { ...process.env, TMPDIR: tmp },
    });
    const out = JSON.parse(r.stdout) as { imageId: string; loaded: string[]; diffIds: string[] };
    expect(out.loaded).toEqual(['ndt-test/stream-load:t1']);
    expect((await docker.getImage('ndt-test/stream-load:t1').inspect()).Id).toBe(out.imageId);
    expect(out.diffIds.length).toBe(3);
    expect((await runIn('ndt-test/stream-load:t1', undefined, cleanup)).output).toContain('hello through --load');
    expect(await readdir(tmp)).toEqual([]);
  });

  it('interrupted mid-upload (SIGINT): exit 130, the engine keeps nothing, no scratch directory left', async () => {
    // A 1 GiB sparse file: seconds of stream, so that the signal comes during the upload.
    const big = join(work.path, 'big');
    await mkdir(big);
    await exec('truncate', ['-s', '1G', join(big, 'zeros')]);
    const child = spawn(
      process.execPath,
      [CLI, 'image', 'stream-layered-image', '--name', 'ndt-test/stream-load-int', '--tag', 't1', '--contents', big, '--load'],
      {
        env: { ...process.env, TMPDIR: tmp },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // Once the stream has started: its scratch directory is there.
    for (let i = 0; i < 200 && (await readdir(tmp)).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    expect(await exit).toBe(130);
    expect(stderr).toMatch(/interrupted \(SIGINT\); nothing was kept/);
    expect(await readdir(tmp)).toEqual([]);
    await expect(docker.getImage('ndt-test/stream-load-int:t1').inspect()).rejects.toThrow();
  });

  it('an engine that does not answer: its address and a hint, exit 69 (engine unavailable), nothing built or left', async () => {
    const r = await exec(process.execPath, [CLI, ...args('ndt-test/stream-load-nowhere')], {
      env: { ...process.env, TMPDIR: tmp, DOCKER_HOST: `unix://${join(work.path, 'no-engine.sock')}` },
    }).then(
      () => ({ code: 0, stderr: '', stdout: '' }),
      (err: { code: number; stderr: string; stdout: string }) => err,
    );
    expect(r.code).toBe(69);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/unable to connect to docker daemon at unix:\/\/.*no-engine\.sock/);
    expect(r.stderr).toMatch(/DOCKER_HOST/);
    expect(await readdir(tmp)).toEqual([]);
  });
});

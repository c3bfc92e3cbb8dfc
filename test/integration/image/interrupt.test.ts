// build-image and build-layered-image stopped by a signal (the bundled CLI,
// as a user runs it) or by an AbortSignal (the library): while runAsRoot or
// fakeRootCommands run in their container, and while the output is being
// written; extraCommands on the host too. Each ends with one line saying nothing was kept (exit 130, for
// SIGTERM too, as every nerves-docker command), and leaves no container, no
// temporary image, no temporary directory and no partial output.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildImage, buildLayeredImage, streamLayeredImage } from '../../../src/image/index.js';
import { busyboxRootfs, docker, engineAnswers, run, tempDir } from './helpers.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const CLI = resolve(import.meta.dirname, '../../../priv/nerves-docker.mjs');
const engine = await engineAnswers();

let work: { path: string; remove(): Promise<void> };
let rootfs: string;
let big: string;
/** TMPDIR of the builds (the CLI's and, through process.env, the library's): empty after each. */
let tmp: string;
/** Where --out points: empty after each. */
let outDir: string;
let savedTmpdir: string | undefined;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('priv/ is not built: run `npm run build` (make test does).');
  work = await tempDir('ndt-interrupt-');
  rootfs = await busyboxRootfs(join(work.path, 'rootfs'), ['sh', 'sleep']);
  // A 1 GiB sparse file: seconds of hashing and writing, so that the signal comes while the output is written.
  big = join(work.path, 'big');
  await mkdir(big);
  await run('truncate', ['-s', '1G', join(big, 'zeros')]);
  tmp = join(work.path, 'tmp');
  outDir = join(work.path, 'out');
  savedTmpdir = process.env.TMPDIR;
  process.env.TMPDIR = tmp; // os.tmpdir() of the library calls below
});
afterAll(async () => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  await work?.remove();
});
beforeEach(async () => {
  for (const d of [tmp, outDir]) {
    await rm(d, { recursive: true, force: true });
    await mkdir(d);
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => Promise<boolean>, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(25)) if (await ok()) return;
  throw new Error(`timed out waiting for ${what}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A script that sleeps, named by a marker found again in the container's command. */
function sleeper(seconds: number): { script: string; marker: string } {
  const marker = `ndt-interrupt-${randomBytes(4).toString('hex')}`;
  return { script: `sleep ${seconds} # ${marker}`, marker };
}

async function containersWith(marker: string, all = true) {
  return (await docker.listContainers({ all })).filter((c) => c.Command.includes(marker));
}

/** Temporary images of runAsRoot / fakeRootCommands (ndt-run-as-root-<id>:...). */
async function runAsRootImages(): Promise<string[]> {
  return (await docker.listImages()).flatMap((i) => (i.RepoTags ?? []).filter((t) => t.startsWith('ndt-run-as-root-')));
}

/** Containers and images of runAsRoot left by an earlier run (or another test) are not this test's. */
async function engineLeftovers(marker: string, before: string[]) {
  const images = (await runAsRootImages()).filter((t) => !before.includes(t));
  return { containers: (await containersWith(marker)).map((c) => `${c.Image} ${c.State}`), images };
}

function cli(args: string[]): { child: ChildProcess; exit: Promise<number | string | null>; stderr(): string } {
  const child = spawn(process.execPath, [CLI, 'image', ...args], {
    env: { ...process.env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.resume();
  // A process killed by the signal (no handler) has no exit code: its signal stands for it.
  const exit = new Promise<number | string | null>((r) => child.once('exit', (code, sig) => r(code ?? sig)));
  return { child, exit, stderr: () => stderr };
}

/** What the command leaves in TMPDIR and next to --out. */
async function leftFiles(): Promise<{ tmp: string[]; out: string[] }> {
  return { tmp: await readdir(tmp), out: await readdir(outDir) };
}

describe.skipIf(!engine)('build-image / build-layered-image interrupted (CLI)', () => {
  it('SIGINT while --run-as-root runs: exit 130, one line, no container, image, temp dir or output left', async () => {
    const { script, marker } = sleeper(30);
    const before = await runAsRootImages();
    const p = cli([
      'build-image',
      '--name',
      'ndt-test/int-rar',
      '--copy-to-root',
      rootfs,
      '--run-as-root',
      script,
      '--out',
      join(outDir, 'ri.tar'),
    ]);
    await until('the runAsRoot container to run', async () => (await containersWith(marker, false)).length > 0);
    p.child.kill('SIGINT');
    const code = await p.exit;
    const left = { ...(await engineLeftovers(marker, before)), ...(await leftFiles()) };
    console.log(`run-as-root SIGINT: exit ${code}, stderr ${JSON.stringify(p.stderr())}, left ${JSON.stringify(left)}`);
    expect(code).toBe(130);
    expect(p.stderr()).toBe('nerves-docker image build-image: interrupted (SIGINT); nothing was kept\n');
    expect(left).toEqual({ containers: [], images: [], tmp: [], out: [] });
  });

  it('SIGTERM while --fake-root-commands run: exit 130, one line, no container, image, temp dir or output left', async () => {
    const { script, marker } = sleeper(30);
    const before = await runAsRootImages();
    const p = cli([
      'build-layered-image',
      '--name',
      'ndt-test/int-frc',
      '--contents',
      rootfs,
      '--fake-root-commands',
      script,
      '--out',
      join(outDir, 'frc.tar'),
    ]);
    await until('the fakeRootCommands container to run', async () => (await containersWith(marker, false)).length > 0);
    p.child.kill('SIGTERM');
    const code = await p.exit;
    const left = { ...(await engineLeftovers(marker, before)), ...(await leftFiles()) };
    console.log(`fake-root-commands SIGTERM: exit ${code}, stderr ${JSON.stringify(p.stderr())}, left ${JSON.stringify(left)}`);
    expect(code).toBe(130);
    expect(p.stderr()).toBe('nerves-docker image build-layered-image: interrupted (SIGTERM); nothing was kept\n');
    expect(left).toEqual({ containers: [], images: [], tmp: [], out: [] });
  });

  it('SIGINT while --extra-commands run on the host: exit 130, the script and what it started killed, no temp dir left', async () => {
    const pidFile = join(work.path, 'extra.pid');
    await rm(pidFile, { force: true });
    // The shell's child (the sleep) writes its own pid: killing only sh would leave it running.
    const script = `sh -c 'echo $$ > ${pidFile}; exec sleep 30'`;
    const p = cli([
      'build-layered-image',
      '--name',
      'ndt-test/int-extra',
      '--contents',
      rootfs,
      '--extra-commands',
      script,
      '--out',
      join(outDir, 'x.tar'),
    ]);
    await until('extraCommands to run', async () => existsSync(pidFile) && (await readFile(pidFile, 'utf8')).endsWith('\n'));
    const pid = Number(await readFile(pidFile, 'utf8'));
    p.child.kill('SIGINT');
    const code = await p.exit;
    const alive = await until('the script to end', async () => !isAlive(pid), 2_000).then(
      () => false,
      () => true,
    );
    const left = await leftFiles();
    console.log(
      `extra-commands SIGINT: exit ${code}, stderr ${JSON.stringify(p.stderr())}, sleep alive ${alive}, left ${JSON.stringify(left)}`,
    );
    if (alive) process.kill(pid, 'SIGKILL');
    expect(code).toBe(130);
    expect(p.stderr()).toBe('nerves-docker image build-layered-image: interrupted (SIGINT); nothing was kept\n');
    expect(alive).toBe(false);
    expect(left).toEqual({ tmp: [], out: [] });
  });

  for (const format of ['docker-archive', 'oci'] as const) {
    it(`SIGINT while build-layered-image writes --format ${format}: exit 130, one line, no partial output or temp dir`, async () => {
      const out = join(outDir, format === 'oci' ? 'bigoci' : 'big.tar');
      const p = cli(['build-layered-image', '--name', 'ndt-test/int-big', '--contents', big, '--format', format, '--out', out]);
      // The hidden partial output next to --out (.big.tar.tmp-PID-X, or the layout's .bigoci.tmp-PID) is there.
      await until(
        'the output to be written',
        async () => (await readdir(outDir)).some((n) => n.startsWith('.')) || p.child.exitCode !== null,
      );
      p.child.kill('SIGINT');
      const code = await p.exit;
      const left = await leftFiles();
      console.log(`build-layered-image ${format} SIGINT: exit ${code}, stderr ${JSON.stringify(p.stderr())}, left ${JSON.stringify(left)}`);
      expect(code).toBe(130);
      expect(p.stderr()).toBe('nerves-docker image build-layered-image: interrupted (SIGINT); nothing was kept\n');
      expect(left).toEqual({ tmp: [], out: [] });
    });
  }

  it('SIGTERM while build-image writes its output: exit 130, one line, no partial output or temp dir', async () => {
    const p = cli(['build-image', '--name', 'ndt-test/int-big-bi', '--copy-to-root', big, '--out', join(outDir, 'big.tar')]);
    await until(
      'the output to be written',
      async () => (await readdir(outDir)).some((n) => n.startsWith('.')) || p.child.exitCode !== null,
    );
    p.child.kill('SIGTERM');
    const code = await p.exit;
    const left = await leftFiles();
    console.log(`build-image write SIGTERM: exit ${code}, stderr ${JSON.stringify(p.stderr())}, left ${JSON.stringify(left)}`);
    expect(code).toBe(130);
    expect(p.stderr()).toBe('nerves-docker image build-image: interrupted (SIGTERM); nothing was kept\n');
    expect(left).toEqual({ tmp: [], out: [] });
  });
});

describe.skipIf(!engine)('buildImage / buildLayeredImage / streamLayeredImage given an AbortSignal', () => {
  /** Aborts `controller` once `ready` holds; the build must settle promptly after (a 30 s script would otherwise run on). */
  async function abortWhen<T>(build: Promise<T>, controller: AbortController, what: string, ready: () => Promise<boolean>) {
    build.catch(() => undefined);
    await until(what, ready);
    const reason = new Error('stopped by the test');
    controller.abort(reason);
    const t0 = Date.now();
    const settled = await Promise.race([
      build.then(
        () => 'resolved',
        (err: unknown) => err,
      ),
      sleep(10_000).then(() => 'still running after 10 s'),
    ]);
    return { settled, reason, ms: Date.now() - t0 };
  }

  it('buildImage: aborted while runAsRoot runs, rejects with the reason and leaves nothing', async () => {
    const { script, marker } = sleeper(30);
    const before = await runAsRootImages();
    const controller = new AbortController();
    const build = buildImage({
      name: 'ndt-test/int-lib-rar',
      copyToRoot: rootfs,
      runAsRoot: script,
      out: join(outDir, 'x.tar'),
      signal: controller.signal,
    });
    const r = await abortWhen(
      build,
      controller,
      'the runAsRoot container to run',
      async () => (await containersWith(marker, false)).length > 0,
    );
    const left = { ...(await engineLeftovers(marker, before)), ...(await leftFiles()) };
    console.log(`buildImage aborted: ${String(r.settled)} after ${r.ms} ms, left ${JSON.stringify(left)}`);
    expect(r.settled).toBe(r.reason);
    expect(left).toEqual({ containers: [], images: [], tmp: [], out: [] });
  });

  it('buildLayeredImage: aborted while the output is written, rejects with the reason and leaves nothing', async () => {
    const controller = new AbortController();
    const build = buildLayeredImage({
      name: 'ndt-test/int-lib-big',
      contents: big,
      out: join(outDir, 'big.tar'),
      signal: controller.signal,
    });
    let done = false;
    void build.finally(() => (done = true)).catch(() => undefined);
    const r = await abortWhen(build, controller, 'the output to be written', async () => (await readdir(outDir)).length > 0 || done);
    const left = await leftFiles();
    console.log(`buildLayeredImage aborted: ${String(r.settled)} after ${r.ms} ms, left ${JSON.stringify(left)}`);
    expect(r.settled).toBe(r.reason);
    expect(left).toEqual({ tmp: [], out: [] });
  });

  it('streamLayeredImage: aborted while fakeRootCommands run, rejects with the reason and leaves nothing', async () => {
    const { script, marker } = sleeper(30);
    const before = await runAsRootImages();
    const controller = new AbortController();
    const build = streamLayeredImage({
      name: 'ndt-test/int-lib-stream',
      contents: rootfs,
      fakeRootCommands: script,
      signal: controller.signal,
    });
    const r = await abortWhen(
      build,
      controller,
      'the fakeRootCommands container to run',
      async () => (await containersWith(marker, false)).length > 0,
    );
    if (typeof r.settled === 'string' || !(r.settled instanceof Error))
      await build.then(
        (s) => s.stream.destroy(),
        () => undefined,
      );
    const left = { ...(await engineLeftovers(marker, before)), ...(await leftFiles()) };
    console.log(`streamLayeredImage aborted: ${String(r.settled)} after ${r.ms} ms, left ${JSON.stringify(left)}`);
    expect(r.settled).toBe(r.reason);
    expect(left).toEqual({ containers: [], images: [], tmp: [], out: [] });
  });
});

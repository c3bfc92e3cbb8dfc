// nerves-docker's runner commands, run as a user would (node priv/nerves-docker.mjs, the bundled CLI),
// against the real engine: output, --json events, exit codes.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyExample, removeVolumeQuietly, removeVolumesUnder, ROOT, requireEngine, type Example } from './helpers/example.js';

const CLI = join(ROOT, 'priv/nerves-docker.mjs');

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [CLI, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('nerves-docker CLI', () => {
  let ex: Example;
  let specFile = '';
  let volume = '';
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('priv/ is not built: run `npm run build` (make test does).');
    await requireEngine();
    ex = copyExample('ndt-cli-');
    specFile = join(ex.dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(ex.spec()));
  });
  afterAll(async () => {
    if (volume) await removeVolumeQuietly(volume);
    // Whatever else a build of this example made (a test run alone with -t records no volume).
    if (ex) await removeVolumesUnder(ex.dir);
    ex?.remove();
  });

  it('build prints the artifact path on stdout and headlines on stderr', async () => {
    const r = await cli(['build', '--spec', specFile, '--yes', '--make-arg', 'GREETING=cli']);
    expect(r.stderr).toContain('>>> busybox 1.36.1 Extracting');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(join(ex.dl, 'example_system-portable-0.1.0-ABCDEF1.tar.gz'));
  });

  it('--json emits one JSON event per line, ending with the result', async () => {
    const r = await cli(['archive', '--spec', specFile, '--json']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; data: Record<string, unknown> });
    expect(events.map((e) => e.event)).toContain('header');
    const last = events.at(-1)!;
    expect(last.event).toBe('result');
    expect(last.data.path).toBe(join(ex.dl, 'example_system-portable-0.1.0-ABCDEF1.tar.gz'));
    volume = String(last.data.volume);
  });

  it('exit codes: usage 64, invalid spec 65, engine 69, failed step 1', async () => {
    expect((await cli(['build', '--bogus'])).code).toBe(64);
    expect((await cli(['build'])).code).toBe(64);
    const bad = join(ex.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify(ex.spec({ make_args: 'not a list' })));
    const invalid = await cli(['build', '--spec', bad]);
    expect(invalid.code).toBe(65);
    expect(invalid.stderr).toContain('build_runner_opts[:make_args] must be a list of strings');
    // --make-arg adds to a list; it does not spread a string into letters nor trip over a number.
    for (const makeArgs of ['GREETING=spec', 5]) {
      writeFileSync(bad, JSON.stringify(ex.spec({ make_args: makeArgs })));
      const withFlag = await cli(['build', '--spec', bad, '--make-arg', 'GREETING=flag']);
      expect(withFlag.stderr).toContain('build_runner_opts[:make_args] must be a list of strings');
      expect(withFlag.code).toBe(65);
    }
    const notObject = join(ex.dir, 'null.json');
    writeFileSync(notObject, 'null');
    const nothing = await cli(['build', '--spec', notObject]);
    expect(nothing.stderr).toBe(
      `nerves-docker build: the spec ${notObject} is not a JSON object (it holds null)\n\n${'Print the job spec of a system with `mix nerves_docker_ts.spec > spec.json` in its directory.'}\n`,
    );
    expect(nothing.code).toBe(65);
    const noEngine = await cli(['build', '--spec', specFile], { DOCKER_HOST: 'unix:///nonexistent.sock' });
    expect(noEngine.code).toBe(69);
    expect(noEngine.stderr).toContain('unix:///nonexistent.sock');
    const failed = await cli(['build', '--spec', specFile, '--make-arg', 'FAIL=1']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('Step "make" exited with status 2');
  });

  it('an invalid environment variable is invalid input (65) like the same value in the spec, naming the variable', async () => {
    for (const [name, value, says] of [
      ['NERVES_DOCKER_TS_CPUS', 'abc', 'must be a number of CPUs above 0'],
      ['NERVES_DOCKER_TS_MEMORY', '5M', 'must be at least 6M'],
      ['NERVES_DOCKER_TS_INPUTS', 'rsync', 'is not one of auto, copy, bind'],
      ['NERVES_DOCKER_TS_STEP_OUTPUT', 'pipe', 'is not one of auto, fifo, exec'],
    ] as const) {
      const r = await cli(['build', '--spec', specFile], { [name]: value });
      expect(r.stderr, name).toContain(name);
      expect(r.stderr, name).toContain(says);
      expect(r.code, `${name}=${value}: ${r.stderr}`).toBe(65);
    }
  });

  it("cpus below Docker's minimum (0.01) is refused before the build, from the environment or the spec, and by doctor", async () => {
    // Before: the engine took it and runc failed the start ("cpu.cfs_quota_us: invalid argument"), with a file-sharing hint.
    const env = await cli(['build', '--spec', specFile], { NERVES_DOCKER_TS_CPUS: '0.001' });
    expect(env.stderr).toContain('NERVES_DOCKER_TS_CPUS must be at least 0.01 (Docker\'s minimum), got string "0.001"');
    expect(env.stderr).not.toMatch(/File sharing|cfs_quota/);
    expect(env.code).toBe(65);
    const tiny = join(ex.dir, 'tiny-cpus.json');
    writeFileSync(tiny, JSON.stringify(ex.spec({ cpus: 0.001 })));
    const spec = await cli(['build', '--spec', tiny]);
    expect(spec.stderr).toContain("build_runner_opts[:cpus] must be at least 0.01 (Docker's minimum), got number 0.001");
    expect(spec.code).toBe(65);
    const d = await cli(['doctor'], { NERVES_DOCKER_TS_CPUS: '0.001' });
    expect(d.stdout).toMatch(/FAIL limits: NERVES_DOCKER_TS_CPUS must be at least 0\.01 \(Docker's minimum\)/);
    expect(d.code).toBe(1);
  });

  it('an address that answers HTTP but not as a Docker engine is said as such, once, with DOCKER_HOST in the hint', async () => {
    // Before: cannot parse docker version "" and two hints to install or upgrade Docker.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const b = await cli(['build', '--spec', specFile], { DOCKER_HOST: host });
      expect(b.stderr).toBe(
        `nerves-docker build: ${host} does not answer like a Docker engine: GET /version answered "hello", not its version\n\n` +
          "Check that DOCKER_HOST, or the current Docker context (`docker context ls`, DOCKER_CONTEXT), names a Docker or Podman engine's API, not another server (this address came from: DOCKER_HOST).\n",
      );
      expect(b.code).toBe(69);
      const d = await cli(['doctor'], { DOCKER_HOST: host });
      expect(d.stdout).toContain(
        `FAIL engine: ${host} does not answer like a Docker engine: GET /version answered "hello", not its version`,
      );
      expect(d.stdout).not.toMatch(/engine version|Install Docker|Upgrade/);
      expect(d.code).toBe(1);
    } finally {
      server.close();
    }
  });

  it('clean takes the lock before it says what it deletes: refused with nothing said, or the takeover warned first', async () => {
    const build = String(ex.spec().build_path);
    mkdirSync(build, { recursive: true });
    const idFile = join(build, '.docker_id');
    const lockFile = join(build, '.nerves-docker-ts.lock');
    writeFileSync(idFile, 'NdtCliLockTest01\n');
    const holder = (pid: number) => JSON.stringify({ pid, host: hostname(), since: new Date().toISOString(), kind: 'build' });
    try {
      writeFileSync(lockFile, holder(process.pid)); // alive: this test
      const held = await cli(['clean', '--spec', specFile]);
      expect(held.code).toBe(75);
      expect(held.stderr).toMatch(/^nerves-docker clean: another build of this package is running/);
      expect(held.stderr).not.toContain('Deleting build volume');
      const gone = spawnSync('true').pid!; // a pid that has exited
      writeFileSync(lockFile, holder(gone));
      const stale = await cli(['clean', '--spec', specFile]);
      expect(stale.code).toBe(0);
      expect(stale.stderr).toMatch(
        new RegExp(
          `^warning: taking over the lock of pid ${gone}, which is gone\\n\\|nerves-docker\\| Deleting build volume example_system-NdtCliLockTest01\\n`,
        ),
      );
    } finally {
      rmSync(idFile, { force: true });
      rmSync(lockFile, { force: true });
    }
  });

  it('keep-alive dots on a stderr that is no terminal end with a newline before the next line', async () => {
    // Before: "..>>> zlib 1.3.1 Extracting": a tool matching ^>>> missed the headline.
    const r = await cli(['build', '--spec', specFile, '--make-arg', 'SLEEP=11']);
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^\.+$/));
    expect(lines.filter((l) => /^\.+./.test(l))).toEqual([]);
    expect(lines).toContain('>>> zlib 1.3.1 Extracting');
  }, 60_000);

  it("doctor's limits: more CPUs than the engine has says how many it has; each invalid variable once, all of them", async () => {
    const checks = (stdout: string) =>
      stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { data: { name: string; ok: boolean; detail: string; fix?: string } }).data)
        .filter((c) => c.name !== undefined);
    const ncpu = Number((await cli(['doctor', '--json'])).stdout.match(/the engine \((\d+) CPUs/)?.[1]);
    expect(ncpu).toBeGreaterThan(0);
    const many = checks((await cli(['doctor', '--json'], { NERVES_DOCKER_TS_CPUS: '99' })).stdout).find((c) => c.name === 'limits');
    expect(many?.ok).toBe(false);
    expect(many?.fix).toBe(`Set NERVES_DOCKER_TS_CPUS to at most ${ncpu} (the engine host has ${ncpu} CPUs), or unset it.`);
    // Before: reported by the system check too (the defconfig and platform went unchecked), and MEMORY=1k never.
    const bad = checks(
      (await cli(['doctor', '--spec', specFile, '--json'], { NERVES_DOCKER_TS_CPUS: 'abc', NERVES_DOCKER_TS_MEMORY: '1k' })).stdout,
    );
    expect(bad.find((c) => c.name === 'system')).toMatchObject({ ok: true, detail: expect.stringContaining('nerves_defconfig') });
    const limits = bad.filter((c) => c.name === 'limits');
    expect(limits).toHaveLength(1);
    expect(limits[0]!.ok).toBe(false);
    expect(limits[0]!.detail).toContain('NERVES_DOCKER_TS_CPUS must be a number of CPUs above 0, got string "abc"');
    expect(limits[0]!.detail).toContain('NERVES_DOCKER_TS_MEMORY must be at least 6M');
    expect(limits[0]!.fix).toMatch(/Set NERVES_DOCKER_TS_CPUS to .*Set NERVES_DOCKER_TS_MEMORY to /);
    expect(bad.filter((c) => !c.ok && c.name !== 'limits')).toEqual([]);
  });

  it('NERVES_DOCKER_TS_YES=1 answers "create the image?" for build, as under Mix', async () => {
    // An image that is not there, from a Dockerfile that fails at once: the build is tried, not declined.
    const context = join(ex.dir, 'failing-image');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nRUN false\n');
    const spec = join(ex.dir, 'no-image.json');
    writeFileSync(spec, JSON.stringify(ex.spec({ docker: { dockerfile: context, tag: 'localhost/ndt-cli-yes/none:1' } })));
    const r = await cli(['build', '--spec', spec], { NERVES_DOCKER_TS_YES: '1' });
    expect(r.stderr).not.toContain('no terminal to answer on');
    expect(r.stderr).toContain('could not create the image localhost/ndt-cli-yes/none:1');
    expect(r.code).toBe(1);
  });

  it('no command is a usage error: the usage on stderr, nothing on stdout, 64; --help on stdout, 0', async () => {
    const none = await cli([]);
    expect([none.code, none.stdout]).toEqual([64, '']);
    expect(none.stderr).toContain('usage: nerves-docker <command>');
    const help = await cli(['--help']);
    expect([help.code, help.stderr]).toEqual([0, '']);
    expect(help.stdout).toContain('usage: nerves-docker <command>');
  });

  it('doctor --image with an invalid reference fails that check, asking the engine nothing', async () => {
    // Before: the string went into the Engine API's URL path ("Request path contains unescaped characters", exit 1).
    const r = await cli(['doctor', '--image', 'Foo Bar']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL image: "Foo Bar" is not a valid image reference; it was not looked up\n     fix: ');
    expect(r.stdout).toMatch(/ok {3}engine: /);
    expect(r.stderr).toBe('nerves-docker doctor: 1 check failed: image\n\nRun the `fix:` of each failed check, then doctor again.\n');
  });

  it('clean removes the volume; doctor passes here', async () => {
    const r = await cli(['clean', '--spec', specFile, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'result', data: { removed_volume: true } });
    const d = await cli(['doctor', '--json']);
    expect(d.code).toBe(0);
    const names = d.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { data: { name: string } }).data.name);
    expect(names).toEqual(expect.arrayContaining(['node', 'engine', 'engine version', 'step output', 'disk']));
    const output = d.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { data: { name: string; detail: string } }).data)
      .find((c) => c.name === 'step output');
    expect(output?.detail).toMatch(/^through FIFOs \(the engine shares this kernel\)$/);
    const forced = await cli(['doctor'], { NERVES_DOCKER_TS_STEP_OUTPUT: 'exec' });
    expect(forced.stdout).toMatch(/ok {3}step output: through the exec stream \(NERVES_DOCKER_TS_STEP_OUTPUT=exec\)/);
    const down = await cli(['doctor'], { DOCKER_HOST: 'unix:///nonexistent.sock' });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/FAIL engine: .*nonexistent\.sock[\s\S]*fix: Start the engine/);
  });
});

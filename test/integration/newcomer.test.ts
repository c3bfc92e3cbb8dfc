// The doctor and the errors a newcomer meets, through the bundled CLI (node
// priv/nerves-docker.mjs) against the real engine: doctor --spec says what the
// next build will do (an image archive it loads, an archive that is missing, a
// missing defconfig, a dead engine); clean on a dead engine; --json ends with
// an error event on every failure, usage errors included; ^C on a terminal,
// and ^C or SIGTERM at the "create the image?" prompt.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveImage } from '../../src/engine/images.js';
import { dockerIdPath, volumeName } from '../../src/runner/job/docker-id.js';
import { docker, NEW_TAG, removeVolumeQuietly, ROOT, useExample } from './helpers/example.js';

const CLI = join(ROOT, 'priv/nerves-docker.mjs');

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'node',
      [CLI, ...args],
      { env: { ...process.env, NERVES_DOCKER_TS_YES: '', ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

interface Event {
  event: string;
  data: { name?: string; ok?: boolean; detail?: string; fix?: string; code?: string; message?: string };
}

const volumeOf = (spec: Record<string, unknown>) =>
  volumeName(String(spec.app), readFileSync(dockerIdPath(String(spec.build_path)), 'utf8').trim());

const events = (stdout: string): Event[] =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Event);
const check = (stdout: string, name: string) => events(stdout).find((e) => e.event === 'check' && e.data.name === name)?.data;

describe('the doctor and the errors a newcomer meets (real engine, bundled CLI)', () => {
  const fx = useExample('ndt-doctor-');
  // A tag the engine does not have, in an archive the spec names.
  const tag = `localhost/ndt-doctor-${process.pid}:1`;
  let archive = '';
  const specFile = (name: string, overrides: Record<string, unknown>) => {
    const file = join(fx.ex.dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(fx.ex.spec(overrides)));
    return file;
  };

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('priv/ is not built: run `npm run build` (make test does).');
    archive = join(fx.ex.dir, 'image.tar');
    const [repo, version] = tag.split(':') as [string, string];
    await docker.getImage(NEW_TAG).tag({ repo, tag: version });
    await saveImage(docker, tag, archive);
    await docker.getImage(tag).remove({ noprune: true });
  });
  afterAll(async () => {
    await docker
      .getImage(tag)
      .remove({ noprune: true })
      .catch(() => {});
  });

  it('an image archive and the tag absent: ok, the next build loads it; and the build does so, with no prompt', async () => {
    const spec = specFile('archive', { docker: { dockerfile: archive, tag } });
    const d = await cli(['doctor', '--spec', spec, '--json']);
    expect(check(d.stdout, 'image')).toMatchObject({
      ok: true,
      detail: `${tag} is not present: the next build loads it from the archive ${archive}`,
    });
    expect(check(d.stdout, 'system')).toMatchObject({ ok: true });
    expect(events(d.stdout).at(-1)).toMatchObject({ event: 'result', data: { ok: true } });
    expect(d.code).toBe(0);
    // The build: no --yes, no terminal (a prompt would be answered no).
    const b = await cli(['build', '--spec', spec, '--json']);
    const last = events(b.stdout).at(-1)!;
    expect(last.event).toBe('result');
    expect(b.code).toBe(0);
    await removeVolumeQuietly(String((last.data as { volume?: string }).volume));
  });

  it("the archive missing: FAIL with the build's own error (an archive, not a Dockerfile), exit 1; the build fails with it", async () => {
    const missing = join(fx.ex.dir, 'no-such-image.tar');
    const spec = specFile('missing', { docker: { dockerfile: missing, tag: `localhost/ndt-doctor-missing-${process.pid}:1` } });
    const d = await cli(['doctor', '--spec', spec]);
    expect(d.stdout).toMatch(
      /FAIL image: .* the next build fails: the image \S+ is not available .* its image archive \S+no-such-image\.tar does not exist/,
    );
    expect(d.stdout).not.toMatch(/Dockerfile/);
    expect(d.stdout).toMatch(/fix: Make the archive/);
    expect(d.code).toBe(1);
    const b = await cli(['build', '--spec', spec, '--json']);
    expect(events(b.stdout).at(-1)).toMatchObject({ event: 'error', data: { code: 'image_archive_missing' } });
    expect(events(b.stdout).at(-1)!.data.message).toMatch(/its image archive \S+no-such-image\.tar does not exist/);
    expect(b.code).toBe(65);
  });

  it('a missing defconfig fails doctor as it fails the build', async () => {
    const spec = specFile('nodefconfig', { defconfig: 'no_such_defconfig' });
    const d = await cli(['doctor', '--spec', spec, '--json']);
    expect(check(d.stdout, 'system')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/the defconfig \S+no_such_defconfig does not exist/),
    });
    expect(events(d.stdout).at(-1)).toMatchObject({ event: 'error', data: { code: 'checks_failed' } });
    expect(d.code).toBe(1);
  });

  it('says the version requirement as a person writes it', async () => {
    const d = await cli(['doctor', '--json']);
    expect(check(d.stdout, 'engine version')?.detail).toMatch(/; the runner needs Docker 1\.13 or newer$/);
    expect(d.stdout).not.toContain('~>');
  });

  it('with the engine down, still checks what needs no engine (system, ssh, uid/gid, disk)', async () => {
    const spec = specFile('down', {});
    const d = await cli(['doctor', '--spec', spec, '--json'], { DOCKER_HOST: 'unix:///nonexistent.sock' });
    expect(check(d.stdout, 'engine')).toMatchObject({ ok: false });
    expect(check(d.stdout, 'system')).toMatchObject({ ok: true });
    for (const name of ['ssh', 'uid/gid', 'disk', 'download dir disk']) expect(check(d.stdout, name), name).toBeDefined();
    expect(events(d.stdout).at(-1)).toMatchObject({ event: 'error', data: { code: 'checks_failed' } });
    expect(d.code).toBe(1);
  });

  it('clean on a dead engine fails to connect before it says it deletes anything', async () => {
    const spec = fx.ex.spec();
    mkdirSync(String(spec.build_path), { recursive: true });
    writeFileSync(dockerIdPath(String(spec.build_path)), 'deadbeef\n');
    const file = specFile('clean', {});
    const r = await cli(['clean', '--spec', file], { DOCKER_HOST: 'unix:///nonexistent.sock' });
    expect(r.code).toBe(69);
    expect(r.stderr).toContain('unix:///nonexistent.sock');
    expect(r.stderr).not.toContain('Deleting build volume');
  });

  it('on a terminal, the status line shown before ^C ends its line before the interrupt message', async () => {
    const spec = specFile('ctrlc', { make_args: ['SLEEP=60'] });
    // script(1) gives the CLI a terminal; `exec` makes the CLI its child.
    const child = spawn('script', ['-qefc', `exec node '${CLI}' build --spec '${spec}' --yes`, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    const deadline = Date.now() + 60_000;
    // Sleeping, with a status line drawn after the headline.
    while (!/Sleeping 60 s[\s\S]*\r\x1b\[K\S/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(out).toMatch(/Sleeping 60 s/);
    const cliPid = Number(
      execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')[0],
    );
    process.kill(cliPid, 'SIGINT');
    await exited;
    const at = out.search(/nerves-docker build: [^\n]*interrupted/);
    expect(at).toBeGreaterThan(0);
    // The line the message starts on holds nothing else (no status text before it).
    expect(out.slice(0, at)).toMatch(/\n\r?$/);
    await removeVolumeQuietly(volumeOf(fx.ex.spec()));
  });

  // "create the image?" on a terminal (script(1)), left unanswered: an image the engine lacks, built from a Dockerfile.
  async function atImagePrompt(name: string): Promise<{ child: ReturnType<typeof spawn>; output: () => string; code: Promise<number> }> {
    const context = join(fx.ex.dir, `${name}-image`);
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\n');
    const spec = specFile(name, { docker: { dockerfile: context, tag: `localhost/ndt-doctor-${name}-${process.pid}:1` } });
    const child = spawn('script', ['-qefc', `exec node '${CLI}' build --spec '${spec}'`, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, NERVES_DOCKER_TS_YES: '' },
    });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const code = new Promise<number>((r) => child.on('exit', (c) => r(c ?? -1)));
    const deadline = Date.now() + 60_000;
    while (!out.includes('Proceed? [Yn] ') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain('Proceed? [Yn] ');
    return { child, output: () => out, code };
  }

  it('a Ctrl-C at the "create the image?" prompt interrupts the build (130), as a SIGINT does', async () => {
    // Readline reads the terminal raw: the Ctrl-C arrives as a key (before: "Aborted with Ctrl+C", exit 1).
    const p = await atImagePrompt('prompt-ctrlc');
    p.child.stdin!.write('\x03');
    expect(await p.code).toBe(130);
    expect(p.output()).toMatch(/\nnerves-docker build: interrupted \(SIGINT\)\r\n$/);
  });

  it('a SIGTERM at the prompt ends it at once (130) instead of waiting for an answer', async () => {
    const p = await atImagePrompt('prompt-term');
    const cliPid = Number(
      execFileSync('pgrep', ['-P', String(p.child.pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')[0],
    );
    process.kill(cliPid, 'SIGTERM');
    expect(await p.code).toBe(130);
    expect(p.output()).toMatch(/\nnerves-docker build: interrupted \(SIGTERM\)\r\n$/);
  });

  it('--json ends with an error event for a usage error too', async () => {
    const spec = specFile('usage', {});
    const r = await cli(['build', '--spec', spec, '--bogus', '--json']);
    expect(r.code).toBe(64);
    expect(events(r.stdout).at(-1)).toMatchObject({
      event: 'error',
      data: { code: 'usage', message: expect.stringContaining("'--bogus'") },
    });
  });
});

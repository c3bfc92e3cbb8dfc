// The runner through DOCKER_HOST=ssh://builder, as a user of `docker -H
// ssh://builder` has it: an sshd of the test's own on 127.0.0.1 (sshd.ts),
// reached through an alias of a private ~/.ssh/config, with no ssh agent.
// The other side's `docker system dial-stdio` is this machine's docker CLI,
// which reaches the local dockerd, so the engine truly sees this machine's
// paths (NERVES_DOCKER_TS_REMOTE_OK=1). Needs root, openssh-server and the
// docker CLI (scripts/setup --test installs them).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeSshTransports, sshTransport } from '../../../src/engine/ssh/transport.js';
import { LABEL } from '../../../src/engine/labels.js';
import { DEFAULT_DOWNLOADS_VOLUME } from '../../../src/runner/job/inputs/copy.js';
import { runJob } from '../../../src/runner/job/run-job.js';
import { connectChecked } from '../../../src/runner/job/preflight.js';
import { parseShellOptions, runShell } from '../../../src/runner/shell/shell.js';
import { parseJobSpec } from '../../../src/runner/spec.js';
import {
  copyExample,
  docker as mainEngine,
  NEW_TAG,
  oneOffOutput,
  recorder,
  removeVolumeQuietly,
  ROOT,
  type Example,
} from '../helpers/example.js';
import { ensureExampleImages } from '../helpers/images.js';
import { artifactOf, buildExample, cleanExample, hasCommand, noContainersSoon, opError, withEngineEnv } from './engine-helpers.js';
import { SSHD, startSshd, type Sshd } from './sshd.js';

const run = promisify(execFile);

/** The command lines of the processes that use this config file (the wrapper puts `-F CONFIG` in ssh's argv). */
function sshProcessesOf(config: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(config)) found.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function noSshProcessesSoon(config: string, timeoutMs = 5000): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const left = sshProcessesOf(config);
    if (left.length === 0 || Date.now() > until) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('an engine behind ssh://builder (the system ssh client, an sshd of the test)', () => {
  let sshd: Sshd;
  let ex: Example | undefined;
  let volume = '';
  let exCopy: Example | undefined;
  let copyVolume = '';
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);

  beforeAll(async () => {
    await ensureExampleImages([NEW_TAG]); // copied from the main engine below
    if (process.getuid?.() !== 0) throw new Error('the ssh test starts an sshd: run it as root (make test on the Debian test machine)');
    if (!existsSync(SSHD))
      throw new Error(`${SSHD} is missing: scripts/setup --test installs openssh-server (scripts/test-apt-packages.txt)`);
    for (const cmd of ['ssh', 'ssh-keygen', 'docker']) {
      if (!hasCommand(cmd))
        throw new Error(`${cmd} is not installed: scripts/setup --test installs the packages in scripts/test-apt-packages.txt`);
    }
    // builder-wrongkey: the same server with a key it does not know, for the authentication failure.
    sshd = await startSshd(['builder-wrongkey']);
    ex = copyExample('ndt-ssh-');
    process.on('warning', onWarning);
  }, 120_000);

  afterAll(async () => {
    process.off('warning', onWarning);
    closeSshTransports();
    if (volume) await removeVolumeQuietly(volume);
    for (const v of copyVolume ? [copyVolume, `${copyVolume}-platform`, `${copyVolume}-package`] : []) await removeVolumeQuietly(v);
    ex?.remove();
    exCopy?.remove();
    await sshd?.stop();
  }, 60_000);

  /** The environment of a user with the alias in ~/.ssh/config and no ssh agent. */
  async function withSsh<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
    const saved = { PATH: process.env.PATH, SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK };
    process.env.PATH = `${sshd.bin}:${process.env.PATH ?? ''}`;
    delete process.env.SSH_AUTH_SOCK;
    try {
      return await withEngineEnv({ DOCKER_HOST: 'ssh://builder', ...vars }, fn);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.SSH_AUTH_SOCK !== undefined) process.env.SSH_AUTH_SOCK = saved.SSH_AUTH_SOCK;
    }
  }

  it('DOCKER_HOST=ssh://builder (an ssh config alias, no agent): found, answers, Docker; NERVES_DEBUG=1 says how ssh is reached', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const { engine, version } = await withSsh({ NERVES_DEBUG: '1' }, () => connectChecked());
      expect(engine).toMatchObject({ where: 'ssh://builder', how: 'DOCKER_HOST', explicit: true, systemSsh: true });
      expect(version.engine).toBe('docker');
      expect((await engine.docker.version()).Version).toBe((await mainEngine.version()).Version);
    } finally {
      spy.mockRestore();
    }
    const debug = lines.join('');
    expect(debug).toContain('nerves_docker_ts: engine: ssh://builder: through');
    expect(debug).toContain('`ssh builder docker system dial-stdio`');
    expect(debug).toContain('ControlMaster');
  });

  it('builds the example through ssh (inputs bound, steps through hijacked exec streams) over one ssh connection', async () => {
    closeSshTransports(); // the build opens its own connection
    const before = sshd.connections();
    const started = Date.now();
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const result = await withSsh({ NERVES_DOCKER_TS_REMOTE_OK: '1', NERVES_DEBUG: '1' }, () => buildExample(ex!, mainEngine));
      volume = result.volume;
    } finally {
      spy.mockRestore();
    }
    // ssh://builder is another host by its address: each step is an exec whose output comes over its attach.
    expect(lines.join('')).toContain('step output through the exec stream: the engine is on another host');
    const opened = sshd.connections() - before;
    const sessions = sshTransport(join(sshd.bin, 'ssh'), { host: 'builder' }).sessions;
    console.log(`ssh build: ${Date.now() - started} ms, ${opened} ssh connection(s), ${sessions} session(s) over them`);
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(3);
    // Kept-alive sessions: one per hijacked stream plus the few the plain requests share, not one per request.
    expect(sessions).toBeLessThan(10);
  });

  it('the system shell runs a one-off command through ssh in the prepared build dir', async () => {
    const ctx = recorder(true);
    const args = { ...ex!.spec(), tty_path: '/nonexistent/tty', cmd: ['sh', '-c', 'ls; echo oops >&2; exit 4'] };
    const res = await withSsh({ NERVES_DOCKER_TS_REMOTE_OK: '1' }, () => runShell(parseJobSpec(args), parseShellOptions(args), ctx));
    expect(res.status).toBe(4);
    const { out, err } = oneOffOutput(ctx);
    expect(out).toMatch(/\bMakefile\b/);
    expect(err).toBe('oops\n');
  });

  it('clean goes through ssh: the build volume is gone', async () => {
    await withSsh({}, () => cleanExample(ex!, mainEngine, volume));
    volume = '';
  });

  it('copy mode through ssh: the inputs sent and the artifact fetched through the Engine API, over a few ssh connections', async () => {
    closeSshTransports(); // the build opens its own connection
    exCopy = copyExample('ndt-ssh-copy-');
    const before = sshd.connections();
    const ctx = recorder(true);
    const result = await withSsh({}, () => runJob('build', parseJobSpec(exCopy!.spec({ inputs: 'copy' })), ctx));
    copyVolume = result.volume;
    expect(result.inputs).toBe('copy');
    expect(result.path).toBe(artifactOf(exCopy));
    expect(readdirSync(exCopy.dl)).toEqual(['example_system-portable-0.1.0-ABCDEF1.tar.gz']);
    const listed = (await run('tar', ['-tzf', result.path])).stdout.split('\n');
    expect(listed).toContain('example_system-portable-0.1.0-ABCDEF1/images/rootfs.img');
    expect(result.steps.map((s) => s.name)).toEqual(['create-build', 'make', 'make system', 'copy']);
    expect(
      ctx
        .of('info')
        .map(String)
        .some((t) => /^sent \d+ files/.test(t)),
    ).toBe(true);
    const opened = sshd.connections() - before;
    const sessions = sshTransport(join(sshd.bin, 'ssh'), { host: 'builder' }).sessions;
    console.log(`ssh copy build: ${opened} ssh connection(s), ${sessions} session(s) over them`);
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(3);
    expect(sessions).toBeLessThan(16);
    expect(await noContainersSoon(mainEngine, { [LABEL.volume]: copyVolume })).toEqual([]);
    const volumes = ((await mainEngine.listVolumes()).Volumes ?? []).map((v) => v.Name);
    expect(volumes).toEqual(expect.arrayContaining([copyVolume, `${copyVolume}-platform`, `${copyVolume}-package`]));
  });

  it('copy mode through ssh: the shell runs a one-off command on the synced inputs', async () => {
    const ctx = recorder(true);
    const script = 'ls /nerves/env/platform /nerves/env/example_system; echo oops >&2; exit 4';
    const args = { ...exCopy!.spec({ inputs: 'copy' }), tty_path: '/nonexistent/tty', cmd: ['sh', '-c', script] };
    const res = await withSsh({}, () => runShell(parseJobSpec(args), parseShellOptions(args), ctx));
    expect(res.status).toBe(4);
    const { out, err } = oneOffOutput(ctx);
    // The platform's and the package's files, as copied into their volumes (no bind mount: forced copy).
    expect(out).toMatch(/\bcreate-build\.sh\b/);
    expect(out).toMatch(/\bnerves_defconfig\b/);
    expect(err).toBe('oops\n');
    // Nothing changed since the build: nothing sent again.
    expect(
      ctx
        .of('info')
        .map(String)
        .some((t) => /^sent 0 files/.test(t)),
    ).toBe(true);
  });

  it('copy mode through ssh: clean removes the build volume and the input volumes (not the shared downloads)', async () => {
    await withSsh({}, () => cleanExample(exCopy!, mainEngine, copyVolume));
    const volumes = ((await mainEngine.listVolumes()).Volumes ?? []).map((v) => v.Name);
    expect(volumes).not.toContain(`${copyVolume}-platform`);
    expect(volumes).not.toContain(`${copyVolume}-package`);
    expect(volumes).toContain(DEFAULT_DOWNLOADS_VOLUME);
    copyVolume = '';
  });

  it('a key the other side refuses gets an ssh hint (not "start the engine")', async () => {
    const err = await opError(withSsh({ DOCKER_HOST: 'ssh://builder-wrongkey' }, () => connectChecked()));
    expect(err.code).toBe('engine_ssh');
    expect(err.message).toContain('ssh://builder-wrongkey (DOCKER_HOST)');
    expect(err.message).toContain('through ssh: ssh builder-wrongkey fails (exit status 255)');
    expect(err.message).toMatch(/Permission denied \(publickey\)/);
    expect(err.hint).toContain('`ssh builder-wrongkey docker version`');
    expect(err.hint).toContain('known_hosts');
    expect(err.hint).not.toMatch(/start (the|your)/i);
  });

  it('a remote command that fails (no engine at the named socket) reports what it said, with the ssh hint', async () => {
    const err = await opError(withSsh({ DOCKER_HOST: 'ssh://builder/run/ndt-no-engine.sock' }, () => connectChecked()));
    expect(err.code).toBe('engine_ssh');
    expect(err.message).toContain('ssh builder docker --host unix:///run/ndt-no-engine.sock system dial-stdio fails (exit status 1)');
    expect(err.message).toContain('/run/ndt-no-engine.sock: connect: no such file or directory');
    expect(err.hint).toContain('`ssh builder docker version`');
  });

  it('a host that ssh would take for an option is refused before ssh runs', async () => {
    const err = await opError(withSsh({ DOCKER_HOST: 'ssh://-oProxyCommand=touch%20/tmp/ndt-pwned' }, () => connectChecked()));
    expect(err.code).toBe('engine_address');
    expect(existsSync('/tmp/ndt-pwned')).toBe(false);
  });

  it('nerves-docker doctor says how ssh is reached; no Node warning; no ssh process outlives it', async () => {
    const cli = join(ROOT, 'priv/nerves-docker.mjs');
    if (!existsSync(cli)) throw new Error('priv/ is not built: run `npm run build` (make test does).');
    closeSshTransports();
    expect(await noSshProcessesSoon(sshd.config)).toEqual([]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${sshd.bin}:${process.env.PATH ?? ''}`,
      DOCKER_HOST: 'ssh://builder',
      NERVES_DEBUG: '1',
    };
    for (const k of ['SSH_AUTH_SOCK', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'NDT_NOTICE_FD', 'NODE_OPTIONS'])
      delete env[k];
    const { stdout, stderr } = await run('node', [cli, 'doctor'], { env, maxBuffer: 16 << 20 }).catch(
      (e: { stdout: string; stderr: string }) => e,
    );
    expect(stdout).toContain('engine: answers at ssh://builder (DOCKER_HOST) through');
    expect(stdout).toMatch(/engine version: docker /);
    expect(stderr).toContain('nerves_docker_ts: engine: ssh://builder: through');
    expect(stderr).not.toMatch(/DEP0170|Warning/);
    expect(await noSshProcessesSoon(sshd.config)).toEqual([]);
    expect(warnings.map((w) => `${(w as { code?: string }).code ?? ''} ${w.message}`).filter((w) => /DEP0170|is invalid/.test(w))).toEqual(
      [],
    );
  });

  it('the built-in ssh2 client (no ssh on PATH, here forced) fails without an agent with an ssh hint', async () => {
    // Last: docker-modem's ssh2 path warns (DEP0170) about the URL it builds; the warning checks are done.
    const err = await opError(withSsh({ NERVES_DOCKER_TS_SSH: 'builtin' }, () => connectChecked()));
    expect(err.code).toBe('engine_ssh');
    expect(err.hint).toContain('ssh agent');
  });
});

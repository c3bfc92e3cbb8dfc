// The artifact belongs to the user who ran the runner, not to the build
// image's user (uid 1005 in the example's new-style image), both ways out:
// the copy from the FIFO drop dir and the Engine API's archive
// (NERVES_DOCKER_TS_STEP_OUTPUT=exec). The CLI (node priv/nerves-docker.mjs)
// runs as another, unprivileged uid through setpriv; the engine is reached
// through a proxy socket that uid owns (the engine's own socket is left
// alone). Needs root (setpriv, chown); skipped otherwise.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineProxy, type EngineProxy } from './helpers/engine-proxy.js';
import { copyExample, engineAnswers, removeVolumeQuietly, ROOT, type Example } from './helpers/example.js';

const CLI = join(ROOT, 'priv/nerves-docker.mjs');
/** The host user the runner runs as here: neither root nor the image's 1005. */
const USER = 1234;
const asRoot = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [`--reuid=${USER}`, `--regid=${USER}`, '--clear-groups', process.execPath, CLI, ...args];
  return new Promise((resolve) => {
    execFile('/usr/bin/setpriv', argv, { env: { PATH: process.env.PATH, ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe.skipIf(!asRoot)('artifact ownership, the runner as an unprivileged host user (needs root for setpriv)', () => {
  let ex: Example;
  let proxy: EngineProxy;
  let specFile = '';
  let env: NodeJS.ProcessEnv = {};
  let volume = '';
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('priv/ is not built: run `npm run build` (make test does).');
    if (!(await engineAnswers())) throw new Error('No Docker engine answers: run scripts/docker-engine (make test does).');
    ex = copyExample('ndt-owner-');
    mkdirSync(ex.home, { recursive: true });
    const sock = join(ex.dir, 'engine.sock');
    proxy = await engineProxy(sock);
    await new Promise<void>((resolve, reject) =>
      execFile('chown', ['-R', `${USER}:${USER}`, ex.dir], (err) => (err ? reject(err) : resolve())),
    );
    chownSync(sock, USER, USER);
    specFile = join(ex.dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify(ex.spec({ uid: USER, gid: USER })));
    chownSync(specFile, USER, USER);
    env = { HOME: ex.home, DOCKER_HOST: `unix://${sock}` };
  });
  afterAll(async () => {
    await proxy?.close();
    if (volume) await removeVolumeQuietly(volume);
    ex?.remove();
  });

  it('through the FIFO drop dir (build) and through the Engine API archive (exec): owned by the host user', async () => {
    const artifact = join(ex.dl, 'example_system-portable-0.1.0-ABCDEF1.tar.gz');
    const built = await run(['build', '--spec', specFile, '--yes', '--json'], env);
    expect(built.code, built.stderr).toBe(0);
    const result = JSON.parse(built.stdout.trim().split('\n').at(-1)!) as { data: { volume: string; output: string } };
    volume = result.data.volume;
    expect(result.data.output).toBe('fifo');
    expect(statSync(artifact)).toMatchObject({ uid: USER, gid: USER });

    const archived = await run(['archive', '--spec', specFile, '--json'], { ...env, NERVES_DOCKER_TS_STEP_OUTPUT: 'exec' });
    expect(archived.code, archived.stderr).toBe(0);
    expect((JSON.parse(archived.stdout.trim().split('\n').at(-1)!) as { data: { output: string } }).data.output).toBe('exec');
    expect(statSync(artifact)).toMatchObject({ uid: USER, gid: USER });
  });
});

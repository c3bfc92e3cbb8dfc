// `nerves-docker image` exits as every nerves-docker command does (errors.ts: the error code's family):
// 64 usage, 65 invalid input, 69 engine unavailable, 1 any other failure. The CLI bundle, spawned; no engine
// is used (the 69 case points DOCKER_HOST at a socket that does not exist).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve(import.meta.dirname, '../../../priv/nerves-docker.mjs');

let dir: string;
let app: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-exit-codes-'));
  app = join(dir, 'app');
  await mkdir(app);
  await writeFile(join(app, 'f'), 'x\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function image(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, 'image', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, stderr: r.stderr };
}

describe('nerves-docker image exit codes', () => {
  it('64 for a usage mistake', () => {
    expect(image(['build-layered-image', '--name', 'x']).status).toBe(64);
  });

  it('65 for invalid input: options, an input that is not an image, a refused account, an existing output', async () => {
    const notTar = join(dir, 'not-a-tar');
    await writeFile(notTar, 'plain text, not a tar\n'.repeat(40));
    // A bundle directory that is not empty.
    const existing = app;
    const linkedEtc = join(dir, 'linked-etc');
    await mkdir(linkedEtc);
    await symlink(app, join(linkedEtc, 'etc'));
    const cases = [
      ['image_options', ['build-layered-image', '--name', 'x', '--contents', app, '--max-layers', '126', '--out', join(dir, 'o1.tar')]],
      ['base_image', ['export-image', '--from-image', notTar, '--out', join(dir, 'o2.tar')]],
      ['input_path', ['shadow-setup', '--root', linkedEtc]],
      ['shadow_conflict', ['shadow-setup', '--root', join(dir, 'r'), '--users', '[{"name":"h","uid":7,"home":"../escaped"}]']],
      ['output_exists', ['build-container', '--out', existing, '--', '/bin/true']],
    ] as const;
    for (const [what, args] of cases) expect({ what, ...image([...args]) }).toMatchObject({ what, status: 65 });
  });

  it('69 when the engine is unavailable', () => {
    const r = image(['stream-layered-image', '--name', 'x', '--contents', app, '--load'], {
      DOCKER_HOST: `unix://${join(dir, 'no-engine.sock')}`,
    });
    expect(r.stderr).toMatch(/unable to connect to docker daemon/);
    expect(r.status).toBe(69);
  });

  it('1 for any other failure (a failing extraCommands)', () => {
    const r = image(['build-layered-image', '--name', 'x', '--contents', app, '--extra-commands', 'exit 4', '--out', join(dir, 'o4.tar')]);
    expect(r.stderr).toMatch(/extraCommands failed/);
    expect(r.status).toBe(1);
  });
});

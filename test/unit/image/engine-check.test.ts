// runAsRoot and fakeRootCommands need the engine: one that does not answer
// is found before the build, named with how to point at another (as
// stream-layered-image --load does), not as a failed `docker load` ("...
// then load again") after the layers are made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../../../src/image/build-image.js';
import { buildLayeredImage } from '../../../src/image/layered.js';
import { failure } from './failure.js';

let dir: string;
let app: string;
const saved = process.env.DOCKER_HOST;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-engine-check-'));
  app = join(dir, 'app');
  await mkdir(app);
  await writeFile(join(app, 'f'), 'x');
  process.env.DOCKER_HOST = `unix://${join(dir, 'nosock.sock')}`;
});
afterAll(async () => {
  if (saved === undefined) delete process.env.DOCKER_HOST;
  else process.env.DOCKER_HOST = saved;
  await rm(dir, { recursive: true, force: true });
});

describe('an engine that does not answer', () => {
  it('stops runAsRoot and fakeRootCommands before the build, naming DOCKER_HOST', async () => {
    for (const [what, build] of [
      ['runAsRoot', () => buildImage({ name: 'x', copyToRoot: [app], runAsRoot: 'true', out: join(dir, 'n.tar') })],
      ['fakeRootCommands', () => buildLayeredImage({ name: 'x', contents: [app], fakeRootCommands: 'true', out: join(dir, 'n.tar') })],
    ] as const) {
      const err = await failure(build());
      expect(err.code, what).toBe('engine_unavailable');
      expect(err.message).toMatch(new RegExp(`^${what} runs in a container on the engine, which does not answer: .*nosock\\.sock`));
      expect(err.message).not.toContain('load again');
      expect(err.hint).toContain('DOCKER_HOST');
    }
    expect((await readdir(dir)).sort()).toEqual(['app']);
  });
});

// A Dockerfile's context that holds what the user running the build cannot
// read (the build image made from build_runner_config's Dockerfile): an
// input_path error naming the path and what to do (permissions, or the
// context's .dockerignore), before anything is sent, no image left.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, NEW_TAG, useExample } from '../helpers/example.js';
import { checkDacDropped, sidecarRequest } from '../helpers/no-dac.js';

const TAG = 'localhost/ndt-test/unreadable-context:1';
const LATIN1_TAG = 'localhost/ndt-test/latin1-context:1';

describe('the build image from a Dockerfile whose context this user cannot read', () => {
  const fx = useExample('ndt-unreadable-ctx-');
  let ctx: string;

  beforeAll(() => {
    ctx = join(fx.ex.dir, 'ctx');
    mkdirSync(join(ctx, 'conf'), { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${NEW_TAG}\nCOPY conf /conf\n`);
    writeFileSync(join(ctx, 'conf', 'secret.key'), 'secret');
    chmodSync(join(ctx, 'conf', 'secret.key'), 0);
    mkdirSync(join(ctx, 'locked'));
    chmodSync(join(ctx, 'locked'), 0);
    checkDacDropped(join(ctx, 'conf', 'secret.key'));
  });
  afterAll(async () => {
    for (const tag of [TAG, LATIN1_TAG])
      await docker
        .getImage(tag)
        .remove({ force: true })
        .catch(() => {});
  });

  it('fails as input_path naming the paths and the .dockerignore that leaves them out; no image', async () => {
    const { reply } = await sidecarRequest('build', fx.ex.spec({ docker: { dockerfile: join(ctx, 'Dockerfile'), tag: TAG } }));
    expect(reply.error?.code).toBe('input_path');
    expect(reply.error?.message).toBe(
      `this user (uid 0) cannot read 2 paths in the build context ${ctx}: conf/secret.key, locked/ (cannot be listed)`,
    );
    expect(reply.error?.hint).toBe(
      `Make them readable (chmod -R u+rX, chown), or list them in ${join(ctx, '.dockerignore')} (e.g. conf/secret.key, locked/); rerunning as it is does not help.`,
    );
    await expect(docker.getImage(TAG).inspect()).rejects.toMatchObject({ statusCode: 404 });

    // What the hint says works: listed in .dockerignore, they are not sent, and the image and the build are made.
    writeFileSync(join(ctx, '.dockerignore'), 'conf/secret.key\nlocked/\n');
    const again = await sidecarRequest('build', fx.ex.spec({ docker: { dockerfile: join(ctx, 'Dockerfile'), tag: TAG } }));
    expect(again.reply.error).toBeUndefined();
    expect((await docker.getImage(TAG).inspect()).RepoTags).toContain(TAG);
  }, 180_000);

  it('a name that is not UTF-8 in the context: input_path naming its bytes, before anything is sent; no image', async () => {
    const latin1 = join(fx.ex.dir, 'ctx-latin1');
    mkdirSync(latin1);
    writeFileSync(join(latin1, 'Dockerfile'), `FROM ${NEW_TAG}\nCOPY . /ctx\n`);
    writeFileSync(Buffer.concat([Buffer.from(`${latin1}/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'x');
    const { reply } = await sidecarRequest('build', fx.ex.spec({ docker: { dockerfile: join(latin1, 'Dockerfile'), tag: LATIN1_TAG } }));
    expect(reply.error?.code).toBe('input_path');
    expect(reply.error?.message).toBe(`The build context ${latin1} holds a name that is not valid UTF-8: "caf\\xe9.txt"`);
    await expect(docker.getImage(LATIN1_TAG).inspect()).rejects.toMatchObject({ statusCode: 404 });
  }, 120_000);
});

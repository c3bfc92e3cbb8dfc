// Copy-mode builds whose inputs hold what the user running the build cannot
// read (a `chmod 000` file, a directory it cannot list or search). The build
// must fail before anything is sent, naming every such path and what to do
// (fix the permissions, or inputs_exclude), as an input error: never as an
// interrupted copy to rerun, which cannot help. The sidecar runs without the
// capabilities that let root read everything (helpers/no-dac.ts).
import { chmodSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../../src/engine/labels.js';
import { noContainersSoon, useExample } from '../helpers/example.js';
import { checkDacDropped, sidecarRequest } from '../helpers/no-dac.js';

describe('copy build: inputs this user cannot read', () => {
  const fx = useExample('ndt-unreadable-');
  const build = async (overrides: Record<string, unknown> = {}) =>
    (await sidecarRequest('build', fx.ex.spec({ inputs: 'copy', ...overrides }))).reply;
  const noContainers = async () => expect(await noContainersSoon({ [LABEL.buildPath]: fx.ex.spec().build_path as string })).toEqual([]);

  beforeAll(() => {
    const probe = join(fx.ex.dir, 'probe');
    writeFileSync(probe, 'x');
    chmodSync(probe, 0);
    checkDacDropped(probe);
  });

  it('a chmod 000 file and directories it cannot list or search: one input_path error naming them all, no container left', async () => {
    const { system, platform } = fx.ex;
    writeFileSync(join(system, 'rootfs_overlay/secret.key'), 'secret');
    chmodSync(join(system, 'rootfs_overlay/secret.key'), 0);
    mkdirSync(join(system, 'locked/inner'), { recursive: true });
    writeFileSync(join(system, 'locked/inner/a'), 'a');
    chmodSync(join(system, 'locked'), 0);
    mkdirSync(join(system, 'nosearch/inner'), { recursive: true });
    chmodSync(join(system, 'nosearch'), 0o644);
    const reply = await build();
    expect(reply.error).toEqual({
      code: 'input_path',
      message:
        `this user (uid 0) cannot read 3 paths in ${system}, which the build copies to the engine: ` +
        'locked/ (cannot be listed), nosearch/ (no search (x) permission), rootfs_overlay/secret.key',
      hint:
        'Make them readable (chmod -R u+rX, chown), or leave them out with build_runner_opts inputs_exclude ' +
        '(e.g. ["/locked/", "/nosearch/", "/rootfs_overlay/secret.key"]); rerunning as it is does not help.',
    });
    await noContainers();

    // The platform's too, named as such; with the package's still there, one error names both (one fix, one rerun).
    writeFileSync(join(platform, 'mk/private.mk'), 'x');
    chmodSync(join(platform, 'mk/private.mk'), 0);
    const both = await build();
    expect(both.error?.code).toBe('input_path');
    expect(both.error?.message).toBe(
      `this user (uid 0) cannot read a path in ${platform}, which the build copies to the engine: mk/private.mk; and ` +
        `this user (uid 0) cannot read 3 paths in ${system}, which the build copies to the engine: ` +
        'locked/ (cannot be listed), nosearch/ (no search (x) permission), rootfs_overlay/secret.key',
    );
    expect(both.error?.hint).toMatch(
      /\(e\.g\. \["\/mk\/private\.mk"\]\).*\(e\.g\. \["\/locked\/", "\/nosearch\/", "\/rootfs_overlay\/secret\.key"\]\)/,
    );
    await noContainers();
    const again = await build({ inputs_exclude: ['/locked/', '/nosearch/', '/rootfs_overlay/secret.key'] });
    expect(again.error?.code).toBe('input_path');
    expect(again.error?.message).toBe(
      `this user (uid 0) cannot read a path in ${platform}, which the build copies to the engine: mk/private.mk`,
    );
    await noContainers();
  }, 180_000);

  it('what the hint says works: excluded, they do not stop the build; a changed file that became unreadable does', async () => {
    const { system } = fx.ex;
    const exclude = ['/locked/', '/nosearch/', '/rootfs_overlay/secret.key', '/mk/private.mk'];
    writeFileSync(join(system, 'rootfs_overlay/motd'), 'hello 1\n');
    const ok = await build({ inputs_exclude: exclude });
    expect(ok.error).toBeUndefined();
    expect(ok.ok).toBeTruthy();

    // Same size, new mtime: the sync must hash it to know whether it changed, and cannot.
    writeFileSync(join(system, 'rootfs_overlay/motd'), 'hello 2\n');
    utimesSync(join(system, 'rootfs_overlay/motd'), new Date(), new Date(Date.now() + 5000));
    chmodSync(join(system, 'rootfs_overlay/motd'), 0);
    const reply = await build({ inputs_exclude: exclude });
    expect(reply.error?.code).toBe('input_path');
    expect(reply.error?.message).toMatch(/cannot read a path in .*: rootfs_overlay\/motd$/);
    await noContainers();
  }, 180_000);
});

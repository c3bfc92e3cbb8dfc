// A file this user could read when a copy's sync began, and no longer can
// when the sync reaches it (its mode changed in between): the sync fails as
// an input_path error naming the file and what to do, not as an interrupted
// copy or a dropped connection; the volume, left "syncing", is repaired by
// the next sync. The sync runs in a child process without the capabilities
// that let root read everything (helpers/no-dac.ts), from dist/ (npm run build).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncTree } from '../../../src/runner/job/inputs/sync/index.js';
import { requireEngine, ROOT as CHECKOUT } from '../helpers/example.js';
import { checkDacDropped, withoutDac } from '../helpers/no-dac.js';
import {
  createBox,
  docker,
  execRoot,
  hostHashes,
  hostListing,
  LABEL,
  removeSyncScaffolding,
  volumeHashes,
  volumeListing,
} from './sync-helpers.js';

const ROOT = '/sync';

// argv: dist's sync module, the container, the tree, the file to make unreadable once the sync has checked the tree.
const CHILD = `
import Docker from 'dockerode';
import { chmodSync } from 'node:fs';
const [syncModule, id, tree, file] = process.argv.slice(1);
const { syncTree } = await import(syncModule);
let changed = false;
try {
  await syncTree({ container: new Docker().getContainer(id), root: '/sync' }, {
    hostDir: tree,
    exclude: [],
    onProgress: () => {
      if (!changed) chmodSync(file, 0);
      changed = true;
    },
  });
  console.log(JSON.stringify({ ok: changed }));
} catch (err) {
  console.log(JSON.stringify({ error: { code: err.code, message: err.message, hint: err.hint } }));
}
`;

describe('copy sync: a file that becomes unreadable while the sync runs', () => {
  let dir = '';
  let tree = '';
  const volume = `ndt-unreadable-midway-${process.pid}`;

  beforeAll(async () => {
    await requireEngine();
    dir = mkdtempSync(join(tmpdir(), 'ndt-midway-'));
    tree = join(dir, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    writeFileSync(join(tree, 'a'), Buffer.alloc(3 << 20, 1));
    writeFileSync(join(tree, 'sub/b'), 'b\n');
    const probe = join(dir, 'probe');
    writeFileSync(probe, 'x');
    chmodSync(probe, 0);
    checkDacDropped(probe);
    await docker.createVolume({ Name: volume, Labels: LABEL });
  });

  afterAll(() => removeSyncScaffolding(volume, dir));

  it('fails as input_path naming the file; once readable again, the next sync completes the volume', async () => {
    const c = await createBox(volume, ROOT);
    try {
      const [cmd, ...args] = withoutDac([
        'node',
        '--input-type=module',
        '-e',
        CHILD,
        join(CHECKOUT, 'dist/runner/job/inputs/sync/index.js'),
        c.id,
        tree,
        join(tree, 'sub/b'),
      ]);
      const r = spawnSync(cmd!, args, { encoding: 'utf8', cwd: CHECKOUT, timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        error: {
          code: 'input_path',
          message: `this user (uid 0) cannot read ${join(tree, 'sub/b')} (permission denied), found while ${tree} was sent into ${ROOT} (it changed since the copy began, or an ACL refuses it)`,
          hint:
            'Make it readable (chmod, chown, setfacl), or leave it out with build_runner_opts inputs_exclude. ' +
            'Run the build again: the next sync finds the interrupted one and resends only what may be incomplete.',
        },
      });
    } finally {
      await c.remove({ force: true });
    }

    chmodSync(join(tree, 'sub/b'), 0o644);
    const box = await createBox(volume, ROOT);
    try {
      const again = await syncTree({ container: box, root: ROOT }, { hostDir: tree, exclude: [] });
      if (again.finish) {
        await box.start();
        expect((await execRoot(box, again.finish)).code).toBe(0);
      }
      expect(await volumeListing(volume, ROOT)).toEqual(hostListing(tree));
      expect(await volumeHashes(box, ROOT)).toEqual(hostHashes(tree, ['a', 'sub/b']));
    } finally {
      await box.remove({ force: true });
    }
  });
});

// Copy builds keep, on this machine, a record of what they left in the
// input volumes (src/runner/job/inputs/sync/host-record.ts): a rebuild that
// finds nothing to send against it does not read the volumes' state, and
// the step driver checks, before the first step, that the volumes still say
// what the record says. Another machine building into the same volumes (a
// second checkout sharing the .docker_id) makes that check fail: the inputs
// are then copied again, the usual way, before any step runs, and the
// artifact is built from this machine's files. `clean` forgets the record
// with the volumes.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runClean } from '../../src/runner/clean.js';
import { runJob } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { LABEL } from '../../src/engine/labels.js';
import { noContainersSoon, recorder, useExample, type Recorder } from './helpers/example.js';

const infos = (ctx: Recorder) => ctx.of('info').map(String);

/** /etc/motd as the artifact's root file system holds it. */
function motdIn(artifact: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ndt-motd-'));
  try {
    execFileSync('tar', ['-xzf', artifact, '-C', dir]);
    const img = execFileSync('find', [dir, '-name', 'rootfs.img'], { encoding: 'utf8' }).trim();
    return execFileSync('tar', ['-xOf', img, '--wildcards', '*etc/motd'], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("copy builds trust this machine's record of the input volumes; the step driver checks it", () => {
  const a = useExample('ndt-record-a-');
  const b = useExample('ndt-record-b-');

  it('a no-change rebuild trusts the record; after another machine used the volumes, the inputs are copied again before any step', async () => {
    writeFileSync(join(a.ex.system, 'rootfs_overlay/etc/motd'), 'built from checkout A\n');
    const specA = parseJobSpec(a.ex.spec({ inputs: 'copy' }));
    const first = await runJob('build', specA, recorder(true));
    expect(first.inputs).toBe('copy');
    expect(motdIn(first.path)).toBe('built from checkout A\n');
    for (const v of ['platform', 'package'])
      expect(existsSync(join(specA.build_path, '.ndt-inputs', `${first.volume}-${v}`, 'state'))).toBe(true);

    const ctx2 = recorder(true);
    await runJob('build', specA, ctx2);
    expect(infos(ctx2).filter((t) => /^sent /.test(t))).toEqual([expect.stringMatching(/^sent 0 files \(0 B\)/)]);
    expect(infos(ctx2).some((t) => /copying again/.test(t))).toBe(false);

    // Checkout B shares A's build volume (its .docker_id) and changes the motd there.
    const specB = parseJobSpec(b.ex.spec({ inputs: 'copy' }));
    mkdirSync(specB.build_path, { recursive: true });
    copyFileSync(join(specA.build_path, '.docker_id'), join(specB.build_path, '.docker_id'));
    writeFileSync(join(b.ex.system, 'rootfs_overlay/etc/motd'), 'built from checkout B\n');
    const third = await runJob('build', specB, recorder(true));
    expect(third.volume).toBe(first.volume);
    expect(motdIn(third.path)).toBe('built from checkout B\n');

    // A's record no longer holds: the driver says so, the motd is sent again, the build uses A's.
    const ctx4 = recorder(true);
    const fourth = await runJob('build', specA, ctx4);
    expect(infos(ctx4).some((t) => /not as this machine left them .* copying again/.test(t))).toBe(true);
    expect(
      infos(ctx4)
        .filter((t) => /^sent /.test(t))
        .at(-1),
    ).toMatch(/^sent 1 files/);
    expect(motdIn(fourth.path)).toBe('built from checkout A\n');
    expect(fourth.steps.map((s) => [s.name, s.status])).toEqual(first.steps.map((s) => [s.name, s.status]));

    // mix nerves.clean removes the input volumes and this machine's record of them: the next build copies all, quietly.
    expect(await noContainersSoon({ [LABEL.volume]: first.volume })).toEqual([]); // the last build's container is gone
    const cleaned = await runClean({ app: specA.app, build_path: specA.build_path, cache_path: specA.cache_path }, recorder(true));
    expect(cleaned.removed_input_volumes).toEqual([`${first.volume}-platform`, `${first.volume}-package`]);
    for (const v of ['platform', 'package'])
      expect(existsSync(join(specA.build_path, '.ndt-inputs', `${first.volume}-${v}`, 'state'))).toBe(false);
    const ctx5 = recorder(true);
    await runJob('build', specA, ctx5);
    expect(infos(ctx5).some((t) => /copying again/.test(t))).toBe(false);
    expect(infos(ctx5).filter((t) => /^sent /.test(t))).toEqual([expect.stringMatching(/^sent [1-9]\d* files/)]);
  }, 120_000);
});

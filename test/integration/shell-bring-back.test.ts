// The system shell on copied inputs (forced copy mode, real engine): what a
// one-off command changes in the package's volume comes back to the package
// on this machine when it ends, and is listed; a file changed here too in
// the meantime is kept, the container's version written beside it; a
// symlink pointing outside the package is refused (never written or
// followed); a deletion is reported, not applied; the volume's manifest is
// updated, so the next sync resends only what differs.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExec } from '../../src/engine/exec.js';
import { Collected } from '../../src/chunk-sink.js';
import { LABEL } from '../../src/engine/labels.js';
import { runJob } from '../../src/runner/job/run-job.js';
import { runShell, parseShellOptions } from '../../src/runner/shell/shell.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import {
  containersOf,
  copyExample,
  docker,
  noContainersSoon,
  recorder,
  removeVolumeQuietly,
  requireEngine,
  type Example,
  type Recorder,
} from './helpers/example.js';

const DL_VOLUME = `ndt-bring-back-dl-${process.pid}`;
const PKG = '/nerves/env/example_system';
const NEW_DEFCONFIG = '# saved in the container\nBR2_x86_64=y\nBR2_SAVED=y\n';

function volumesOf(ex: Example): string[] {
  try {
    const id = readFileSync(join(ex.system, '.nerves/artifacts/example_system-portable-0.1.0/.docker_id'), 'utf8').trim();
    const v = `example_system-${id}`;
    return [v, `${v}-platform`, `${v}-package`];
  } catch {
    return [];
  }
}

function texts(ctx: Recorder, event: 'info' | 'warn'): string[] {
  return ctx.of(event) as string[];
}

function stdout(ctx: Recorder): string {
  const logs = ctx.of('log') as Array<{ stream: string; data: Buffer }>;
  return Buffer.concat(logs.filter((l) => l.stream === 'stdout').map((l) => l.data)).toString();
}

async function shell(ex: Example, script: string, ctx: Recorder = recorder(true)): Promise<{ status: number; ctx: Recorder }> {
  const args = { ...ex.spec({ inputs: 'copy', downloads_volume: DL_VOLUME }), tty_path: '/nonexistent/tty', cmd: ['sh', '-c', script] };
  const res = await runShell(parseJobSpec(args), parseShellOptions(args), ctx);
  return { status: res.status, ctx };
}

describe('the shell on copied inputs brings the package changes back', () => {
  let ex: Example;
  beforeAll(async () => {
    await requireEngine();
    ex = copyExample('ndt-bring-back-');
    // The example image runs as nerves (1005) and the copy keeps this machine's owners: the package
    // is owned by 1005 here, as for a user whose uid is the image user's, so the shell can write it.
    if (process.getuid?.() === 0) execFileSync('chown', ['-R', '1005:1005', ex.system]);
  });
  afterAll(async () => {
    for (const c of await containersOf({ [LABEL.kind]: 'shell', [LABEL.package]: 'example_system' }))
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => {});
    for (const v of [...(ex ? volumesOf(ex) : []), DL_VOLUME]) await removeVolumeQuietly(v);
    ex?.remove();
  });

  it('new and changed files come back and are listed; an outside symlink is refused; a deletion is only reported', async () => {
    const readme = readFileSync(join(ex.system, 'README.md'), 'utf8');
    const script = [
      'set -e',
      `cd ${PKG}`,
      `printf '${NEW_DEFCONFIG.replace(/\n/g, '\\n')}' > nerves_defconfig`,
      'mkdir -p fragments && printf "BR2_PACKAGE_EXTRA=y\\n" > fragments/extra.fragment',
      'ln -s /etc/passwd escape',
      'ln -s ../../../../etc/hostname fragments/escape2',
      'ln -s nerves_defconfig inside-link',
      'rm README.md',
      'mkdir -p _build && echo x > _build/ignored',
      'echo done',
    ].join('\n');
    const { status, ctx } = await shell(ex, script);
    expect(stdout(ctx)).toContain('done');
    expect(status).toBe(0);
    expect(readFileSync(join(ex.system, 'nerves_defconfig'), 'utf8')).toBe(NEW_DEFCONFIG);
    expect(readFileSync(join(ex.system, 'fragments/extra.fragment'), 'utf8')).toBe('BR2_PACKAGE_EXTRA=y\n');
    expect(readlinkSync(join(ex.system, 'inside-link'))).toBe('nerves_defconfig');
    // Refused, not written in any form: nothing at those paths here.
    expect(lstatSync(join(ex.system, 'escape'), { throwIfNoEntry: false })).toBeUndefined();
    expect(lstatSync(join(ex.system, 'fragments/escape2'), { throwIfNoEntry: false })).toBeUndefined();
    // Deleted in the container, kept here; excluded paths do not come back.
    expect(readFileSync(join(ex.system, 'README.md'), 'utf8')).toBe(readme);
    expect(existsSync(join(ex.system, '_build'))).toBe(false);
    const infos = texts(ctx, 'info');
    const warns = texts(ctx, 'warn');
    expect(infos).toContain(`3 files and 1 new directory came back from the build container into ${ex.system}:`);
    expect(infos).toContain('  nerves_defconfig (changed)');
    expect(infos).toContain('  fragments/extra.fragment (new)');
    expect(infos).toContain('  inside-link (new)');
    expect(warns).toContain('not brought back: escape: a symlink to "/etc/passwd", outside the package');
    expect(warns).toContain('not brought back: fragments/escape2: a symlink to "../../../../etc/hostname", outside the package');
    expect(infos.some((t) => /^1 path was deleted in the build container; deletions are not brought back/.test(t))).toBe(true);
    expect(infos).toContain('  README.md');
    expect(await noContainersSoon({ [LABEL.kind]: 'shell', [LABEL.package]: 'example_system' })).toEqual([]);
  });

  it('the next sync resends only what differs (the manifest was updated), and the volume matches this machine again', async () => {
    const { status, ctx } = await shell(
      ex,
      `cd ${PKG} && test -f README.md && test ! -e escape && cat nerves_defconfig fragments/extra.fragment`,
    );
    expect(status).toBe(0);
    expect(stdout(ctx)).toBe(NEW_DEFCONFIG + 'BR2_PACKAGE_EXTRA=y\n');
    // README.md (deleted there) is sent again; what came back is not; the refused symlinks are removed there.
    const sent = texts(ctx, 'info').filter((t) => t.startsWith('sent '));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^sent 1 files \(.*\), removed 2; /);
    expect(texts(ctx, 'info').filter((t) => t.includes('came back'))).toEqual([]);
  });

  it('a file changed here while the shell ran is kept; the container version is written beside it, and the user told', async () => {
    const hostVersion = '# edited here while the shell ran\nBR2_x86_64=y\n';
    // What came back was written by this (root) process: writable by the image's user again.
    if (process.getuid?.() === 0) execFileSync('chown', ['-R', '1005:1005', ex.system]);
    const ctx = recorder(true);
    const emit = ctx.emit;
    let edited: Promise<void> | null = null;
    // The command says READY with its container's id, then waits for /tmp/go, which the test
    // creates (an exec) only after it edited the host file: the edit falls between the sync and the end.
    ctx.emit = (event, data) => {
      emit(event, data);
      const text = event === 'log' ? (data as { data: Buffer }).data.toString() : '';
      const m = /READY (\S+)/.exec(text);
      if (m && !edited) {
        edited = (async () => {
          writeFileSync(join(ex.system, 'nerves_defconfig'), hostVersion);
          await runExec(docker.getContainer(m[1]!), { cmd: ['touch', '/tmp/go'], user: '0' }, new Collected());
        })();
      }
    };
    const script = `cd ${PKG} && printf 'BR2_FROM_CONTAINER=y\\n' > nerves_defconfig && printf 'A=1\\n' > fragments/extra.fragment && echo "READY $HOSTNAME" && i=0; while [ ! -e /tmp/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; test -e /tmp/go`;
    const { status } = await shell(ex, script, ctx);
    await edited;
    expect(status).toBe(0);
    expect(readFileSync(join(ex.system, 'nerves_defconfig'), 'utf8')).toBe(hostVersion);
    expect(readFileSync(join(ex.system, 'nerves_defconfig.from-build-host'), 'utf8')).toBe('BR2_FROM_CONTAINER=y\n');
    expect(readFileSync(join(ex.system, 'fragments/extra.fragment'), 'utf8')).toBe('A=1\n');
    expect(texts(ctx, 'warn')).toContain(
      "nerves_defconfig also changed here while the shell ran: it is kept as it is here; the build container's version is in nerves_defconfig.from-build-host",
    );
    expect(texts(ctx, 'info')).toContain('  fragments/extra.fragment (changed)');
  });
  it('nothing is written through a symlink of this machine: a symlinked directory replaced by a real one there is refused', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'ndt-bring-back-outside-'));
    try {
      symlinkSync(outside, join(ex.system, 'linked-dir'));
      if (process.getuid?.() === 0) execFileSync('chown', ['-h', '1005:1005', join(ex.system, 'linked-dir')]);
      const script = `cd ${PKG} && test -L linked-dir && rm linked-dir && mkdir linked-dir && echo x > linked-dir/f`;
      const { status, ctx } = await shell(ex, script);
      expect(status).toBe(0);
      expect(readdirSync(outside)).toEqual([]);
      expect(readlinkSync(join(ex.system, 'linked-dir'))).toBe(outside);
      const warns = texts(ctx, 'warn');
      expect(warns).toContain('not brought back: linked-dir: a new directory where this machine has something else');
      expect(warns).toContain('not brought back: linked-dir/f: its directory here is a symlink or not a directory');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe("a copy build after the shell does not take the shell's changes for another machine's", () => {
  let ex: Example;
  beforeAll(async () => {
    await requireEngine();
    ex = copyExample('ndt-bring-back-record-');
    if (process.getuid?.() === 0) execFileSync('chown', ['-R', '1005:1005', ex.system]);
  });
  afterAll(async () => {
    for (const v of [...(ex ? volumesOf(ex) : []), DL_VOLUME]) await removeVolumeQuietly(v);
    ex?.remove();
  });

  it("the shell forgets this machine's record of the package volume it changed; the next build reads the volume's state", async () => {
    const spec = parseJobSpec(ex.spec({ inputs: 'copy', downloads_volume: DL_VOLUME }));
    await runJob('build', spec, recorder(true)); // leaves this machine's record of the input volumes
    // A deletion in the volume is reported, not applied here: this machine's tree still matches its record.
    const { status } = await shell(ex, `rm ${PKG}/README.md`);
    expect(status).toBe(0);
    expect(existsSync(join(ex.system, 'README.md'))).toBe(true);
    const ctx = recorder(true);
    await runJob('build', spec, ctx);
    expect(texts(ctx, 'info').some((t) => /copying again/.test(t))).toBe(false);
    expect(texts(ctx, 'info').filter((t) => t.startsWith('sent '))).toEqual([expect.stringMatching(/^sent 1 files/)]);
  }, 120_000);
});

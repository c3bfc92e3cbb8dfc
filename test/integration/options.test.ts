// The v0.4.6 options that came back (keep the build container, downloads in a
// named volume) and an unwritable download dir, against the real engine.
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LABEL } from '../../src/engine/labels.js';
import { runJob } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { containersOf, docker, noContainersSoon, recorder, removeVolumeQuietly, useExample } from './helpers/example.js';

const execFileP = promisify(execFile);

describe('build runner options (real engine)', () => {
  const fx = useExample('ndt-opts-');

  it('keep_container leaves the stopped build container for post-mortem, says so, and the next build still works', async () => {
    const rec = recorder(true);
    const res = await runJob('build', parseJobSpec(fx.ex.spec({ keep_container: true })), rec);
    fx.volumes.push(res.volume);
    expect(res.container).toMatch(/^[0-9a-f]{64}$/);
    const info = await docker.getContainer(res.container!).inspect();
    expect(info.State.Running).toBe(false);
    expect(info.Config.Labels[LABEL.keep]).toBe('true');
    // Named, with what works on it (README said `docker start -ai ID`, which gives no shell: PID 1 reads stdin).
    const short = res.container!.slice(0, 12);
    expect(rec.of('info')).toContain(
      `Kept the build container ${short} (stopped) for a look inside: docker start ${short} && docker exec -it ${short} bash; the next clean removes it`,
    );
    // The kept container holds the build tree: it can be started again to look around
    // (so it mounts nothing temporary: its steps used the exec stream), as the message says.
    expect(info.Mounts.some((m) => m.Name === res.volume)).toBe(true);
    expect(res.output).toBe('exec');
    await execFileP('docker', ['start', short]);
    const { stdout } = await execFileP('docker', ['exec', short, 'bash', '-c', 'echo inside; test -d /home/nerves/project && echo tree']);
    expect(stdout).toBe('inside\ntree\n');
    await docker
      .getContainer(res.container!)
      .kill()
      .catch(() => {});
    const again = await runJob('build', parseJobSpec(fx.ex.spec()), recorder(true));
    expect(again.volume).toBe(res.volume);
    // The kept one is still there (only leftovers of dead jobs are removed; clean would remove it),
    // once the second build's own container is gone.
    let ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      ids = (await containersOf({ [LABEL.volume]: res.volume })).map((c) => c.Id);
      if (ids.length === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(ids).toEqual([res.container]);
    await docker.getContainer(res.container!).remove({ force: true });
    expect(await noContainersSoon({ [LABEL.volume]: res.volume })).toEqual([]);
  });

  it('keep_container on a failed build: the container is named too (that is when it is wanted)', async () => {
    const rec = recorder(true);
    const err = await runJob('build', parseJobSpec(fx.ex.spec({ keep_container: true, make_args: ['FAIL=1'] })), rec).catch((e) => e);
    expect(err).toMatchObject({ code: 'step_failed' });
    const kept = rec.of('info').find((t) => String(t).startsWith('Kept the build container '));
    const short = /^Kept the build container ([0-9a-f]{12}) /.exec(String(kept))?.[1];
    expect(short, JSON.stringify(rec.of('info'))).toBeDefined();
    expect((await docker.getContainer(short!).inspect()).State.Running).toBe(false);
    await docker.getContainer(short!).remove({ force: true });
  });

  it('a build path where no FIFO can be made falls back to the exec stream with a warning', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent'; // no mkfifo
    try {
      const ctx = recorder(true);
      const res = await runJob('build', parseJobSpec(fx.ex.spec()), ctx);
      fx.volumes.push(res.volume);
      expect(res.output).toBe('exec');
      expect(existsSync(res.path)).toBe(true);
      expect((ctx.of('warn') as string[]).join('\n')).toMatch(
        /cannot create the step output FIFO.*streaming step output through the engine instead/,
      );
    } finally {
      process.env.PATH = saved;
    }
  });

  it('downloads_volume keeps downloads in a named volume; the artifact still reaches the download dir', async () => {
    const dlVolume = `ndt-test-dl-${process.pid}`;
    try {
      const res = await runJob('build', parseJobSpec(fx.ex.spec({ downloads_volume: dlVolume })), recorder(true));
      expect(existsSync(res.path)).toBe(true);
      const vol = await docker.getVolume(dlVolume).inspect();
      expect(vol.Name).toBe(dlVolume);
    } finally {
      await removeVolumeQuietly(dlVolume);
    }
  });

  it('partial artifacts that a killed runner left are removed by the next build of the package', async () => {
    const name = 'example_system-portable-0.1.0-ABCDEF1.tar.gz';
    mkdirSync(fx.ex.dl, { recursive: true });
    const stale = [`.${name}.partial-999999-1`, `.${name}.partial-1-2`].map((n) => join(fx.ex.dl, n));
    for (const p of stale) writeFileSync(p, 'half an artifact');
    const other = join(fx.ex.dl, '.other_system-portable-0.1.0-XYZ.tar.gz.partial-1-2'); // another package's: not ours to remove
    writeFileSync(other, 'x');
    await runJob('build', parseJobSpec(fx.ex.spec()), recorder(true));
    expect(stale.filter((p) => existsSync(p))).toEqual([]);
    expect(existsSync(other)).toBe(true);
    expect(readdirSync(fx.ex.dl).sort()).toEqual([basename(other), name].sort());
  });

  it('a download dir that cannot be written is reported before the build starts', async () => {
    const locked = join(fx.ex.dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    const ctx = recorder(true);
    // As root the mode alone does not stop writes: point below a regular file instead.
    const target = process.getuid?.() === 0 ? join(fx.ex.system, 'mix.exs', 'dl') : locked;
    const err = await runJob('build', parseJobSpec(fx.ex.spec({ download_dir: target })), ctx).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'download_dir', message: expect.stringContaining(target) });
    expect(ctx.of('header')).toEqual([]);
  });
});

// Builds on an engine that cannot see this machine's files, on this machine:
// the runner (the nerves-docker CLI) runs in a private mount namespace
// (unshare -m) with the example system, platform and download dir on a
// tmpfs mounted there, which dockerd, outside the namespace, does not see.
// Auto must find that out (a bind source missing where the engine runs, or a
// same-named empty directory there) and copy the inputs into volumes; the
// artifact comes back through the Engine API with the same contents as a
// bind build; forced bind fails naming the path; nothing is left in
// dockerd's view of the directory.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../src/engine/labels.js';
import { runJob, type JobResult } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import {
  copyExample,
  docker,
  noContainersSoon,
  recorder,
  removeVolumesUnder,
  requireEngine,
  ROOT,
  type Example,
} from './helpers/example.js';

const CLI = join(ROOT, 'priv/nerves-docker.mjs');
const ARTIFACT = 'example_system-portable-0.1.0-ABCDEF1.tar.gz';

interface NsRun {
  status: number;
  events: Array<{ event: string; data: unknown }>;
  stderr: string;
}

/**
 * Runs `builds` (each an env for one `nerves-docker build`) one after the
 * other in a private mount namespace where `outer` has a tmpfs holding a copy
 * of `ex` under `outer/w`; the artifact of each build is copied to `save`.
 */
function inNamespace(ex: Example, outer: string, save: string, specFile: string, builds: Array<Record<string, string>>): NsRun[] {
  const script = [
    'set -u',
    'mount -t tmpfs tmpfs "$OUTER"',
    // A fresh copy: no .docker_id of the reference build (a volume of its own, its own build count).
    'mkdir -p "$OUTER/w" && cp -a "$SRC/system" "$SRC/platform" "$OUTER/w/" && rm -rf "$OUTER/w/system/.nerves"',
    'i=0',
    'for envs in "$@"; do',
    '  i=$((i+1))',
    '  env $envs node "$CLI" build --spec "$SPEC" --json >"$SAVE/events-$i" 2>"$SAVE/stderr-$i"; echo $? >"$SAVE/status-$i"',
    '  cp "$OUTER/w/dl/$ARTIFACT" "$SAVE/artifact-$i" 2>/dev/null || true',
    'done',
  ].join('\n');
  const args = builds.map(
    (env) =>
      Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || 'NDT_NOTHING=1',
  );
  execFileSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', script, 'ns', ...args], {
    env: { ...process.env, OUTER: outer, SRC: ex.dir, CLI, SPEC: specFile, SAVE: save, ARTIFACT, NERVES_DOCKER_TS_YES: '1' },
    stdio: 'inherit',
    timeout: 300_000,
  });
  return builds.map((_, i) => ({
    status: Number(readFileSync(join(save, `status-${i + 1}`), 'utf8')),
    events: readFileSync(join(save, `events-${i + 1}`), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; data: unknown }),
    stderr: readFileSync(join(save, `stderr-${i + 1}`), 'utf8'),
  }));
}

/**
 * name -> sha256 of every file in a .tar.gz, files that are tars themselves
 * (images/rootfs.img) listed member by member: what the artifact holds,
 * whatever the timestamps of this build.
 */
function tarContents(file: string, gzip = true): Map<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'ndt-art-'));
  try {
    execFileSync('tar', [gzip ? '-xzf' : '-xf', file, '-C', dir]);
    const out = new Map<string, string>();
    const walk = (d: string, rel: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p, `${rel}${e.name}/`);
        else if (e.isSymbolicLink()) out.set(rel + e.name, `-> ${readlinkSync(p)}`);
        else if (e.name.endsWith('.img') && spawnSync('tar', ['-tf', p]).status === 0) {
          for (const [k, v] of tarContents(p, false)) out.set(`${rel}${e.name}!${k}`, v);
        } else if (e.isFile()) out.set(rel + e.name, createHash('sha256').update(readFileSync(p)).digest('hex'));
      }
    };
    walk(dir, '');
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function removeVolumes(volume: string): Promise<void> {
  for (const v of [volume, `${volume}-platform`, `${volume}-package`])
    await docker
      .getVolume(v)
      .remove()
      .catch(() => {});
}

describe('inputs copied into volumes: an engine that cannot see the files (private mount namespace)', () => {
  const ex = copyExample('ndt-copy-');
  const outer = mkdtempSync(join(tmpdir(), 'ndt-unseen-'));
  const save = mkdtempSync(join(tmpdir(), 'ndt-saved-'));
  const volumes: string[] = [];
  const dirs: string[] = [outer];
  let bind: JobResult;

  beforeAll(async () => {
    await requireEngine();
    // The reference: the same example built with bind mounts, in this process.
    bind = await runJob('build', parseJobSpec(ex.spec({ inputs: 'bind' })), recorder(true));
    volumes.push(bind.volume);
  });

  afterAll(async () => {
    for (const v of volumes) await removeVolumes(v);
    for (const d of dirs) await removeVolumesUnder(d);
    ex.remove();
    rmSync(outer, { recursive: true, force: true });
    rmSync(save, { recursive: true, force: true });
  });

  it('auto copies (a bind source missing where the engine runs), builds, brings back the same artifact, then copies only what changed', async () => {
    const w = join(outer, 'w');
    const specFile = join(save, 'spec.json');
    const inner = copyExample('ndt-unused-'); // only for its spec's shape, with paths moved under the tmpfs
    const spec = inner.spec({
      pkg_path: join(w, 'system'),
      platform_path: join(w, 'platform'),
      download_dir: join(w, 'dl'),
      log_dir: w,
      home: join(w, 'home'),
      build_path: join(w, 'system/.nerves/artifacts/example_system-portable-0.1.0'),
      cache_path: join(w, 'cache'),
    });
    inner.remove();
    writeFileSync(specFile, JSON.stringify(spec));
    const [first, second] = inNamespace(ex, outer, save, specFile, [{ NERVES_DEBUG: '1' }, {}]);
    expect(first!.status, first!.stderr).toBe(0);
    const result = first!.events.find((e) => e.event === 'result')!.data as JobResult;
    volumes.push(result.volume);
    expect(result.inputs).toBe('copy');
    expect(result.output).toBe('exec');
    const infos = first!.events.filter((e) => e.event === 'info').map((e) => String(e.data));
    expect(infos.some((t) => /does not see this machine's files .*copying the inputs into volumes/.test(t))).toBe(true);
    expect(tarContents(join(save, 'artifact-1'))).toEqual(tarContents(bind.path));
    // The rebuild sends nothing: nothing changed on this side.
    expect(second!.status, second!.stderr).toBe(0);
    const again = second!.events.filter((e) => e.event === 'info').map((e) => String(e.data));
    expect(again.some((t) => /^sent 0 files \(0 B\)/.test(t))).toBe(true);
    // dockerd's view of the directory: as empty as before.
    expect(readdirSync(outer)).toEqual([]);
    expect(await noContainersSoon({ [LABEL.volume]: result.volume })).toEqual([]);
  });

  it('forced bind fails with an error naming the path the engine cannot see', () => {
    const w = join(outer, 'w');
    const specFile = join(save, 'spec.json');
    const [run] = inNamespace(ex, outer, save, specFile, [{ NERVES_DOCKER_TS_INPUTS: 'bind' }]);
    expect(run!.status).toBe(69);
    const error = run!.events.find((e) => e.event === 'error')!.data as { code: string; message: string; hint: string };
    expect(error.code).toBe('inputs_not_visible');
    expect(error.message).toContain(w);
    expect(error.hint).toMatch(/inputs: :copy/);
    expect(readdirSync(outer)).toEqual([]);
  });

  it('a same-named empty directory where the engine runs is not taken for the inputs: auto checks with a token', () => {
    // Outside the namespace the package's directories exist, empty: the binds work, the files are not there.
    const stale = mkdtempSync(join(tmpdir(), 'ndt-stale-'));
    dirs.push(stale);
    try {
      const w = join(stale, 'w');
      for (const d of ['system/.nerves/artifacts/example_system-portable-0.1.0', 'platform', 'dl'])
        mkdirSync(join(w, d), { recursive: true });
      const specFile = join(save, 'spec-stale.json');
      const spec = { ...(JSON.parse(readFileSync(join(save, 'spec.json'), 'utf8')) as Record<string, string>) };
      for (const k of ['pkg_path', 'platform_path', 'download_dir', 'log_dir', 'home', 'build_path', 'cache_path'])
        spec[k] = spec[k]!.replace(outer, stale);
      writeFileSync(specFile, JSON.stringify(spec));
      const saveStale = mkdtempSync(join(tmpdir(), 'ndt-saved-stale-'));
      // Steps as execs: no FIFO directory to mount, so the token is what tells.
      const [run] = inNamespace(ex, stale, saveStale, specFile, [{ NERVES_DOCKER_TS_STEP_OUTPUT: 'exec' }]);
      expect(run!.status, run!.stderr).toBe(0);
      const result = run!.events.find((e) => e.event === 'result')!.data as JobResult;
      volumes.push(result.volume);
      expect(result.inputs).toBe('copy');
      const infos = run!.events.filter((e) => e.event === 'info').map((e) => String(e.data));
      expect(infos.some((t) => /not in the container/.test(t))).toBe(true);
      expect(tarContents(join(saveStale, 'artifact-1'))).toEqual(tarContents(bind.path));
      rmSync(saveStale, { recursive: true, force: true });
    } finally {
      rmSync(stale, { recursive: true, force: true });
    }
  });
});

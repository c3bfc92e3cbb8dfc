import { describe, expect, it } from 'vitest';
import { parseCpus, parseJobSpec, parseMemory } from '../../src/runner/spec.js';
import { computeLayout, isNewImage } from '../../src/runner/job/layout.js';
import { jobSteps } from '../../src/runner/job/plan.js';
import { decodeMessage } from '../../src/protocol/codec.js';

const good = {
  app: 'my_system',
  pkg_path: '/src/my_system',
  version: '0.1.0',
  defconfig: 'nerves_defconfig',
  download_name: 'my_system-portable-0.1.0-ABCDEF1',
  ext: '.tar.gz',
  download_dir: '/home/u/.nerves/dl',
  build_path: '/src/my_system/.nerves/artifacts/my_system-portable-0.1.0',
  cache_path: '/home/u/.nerves/artifacts/my_system-portable-0.1.0',
  platform_path: '/src/deps/nerves_system_br',
  platform_version: '1.28.1',
  docker: { dockerfile: '/src/Dockerfile', tag: 'ghcr.io/nerves-project/nerves_system_br:1.28.1' },
  make_args: ['PARALLEL_JOBS=8'],
  uid: 1000,
  gid: 1000,
  term: 'xterm',
  log_dir: '/src/my_system',
  home: '/nonexistent-home',
  tty: false,
};

function bad(patch: Record<string, unknown>): string {
  try {
    parseJobSpec({ ...good, ...patch });
  } catch (err) {
    expect((err as { code: string }).code).toBe('invalid_spec');
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('job spec validation', () => {
  it('accepts a good spec and fills defaults', () => {
    const s = parseJobSpec(good);
    expect(s.keep_container).toBe(false);
    expect(s.downloads_volume).toBeNull();
    expect(parseJobSpec({ ...good, term: '' }).term).toBe('xterm-256color');
    expect(parseJobSpec({ ...good, uid: 70000n }).uid).toBe(70000);
  });

  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['missing app', { app: undefined }, /app is missing/],
    ['app not an OTP name', { app: 'My System' }, /app must be an OTP application name/],
    ['relative pkg_path', { pkg_path: 'rel/path' }, /pkg_path must be an absolute path/],
    ['pkg_path with NUL', { pkg_path: '/a\0b' }, /pkg_path contains a NUL byte/],
    ['missing defconfig', { defconfig: undefined }, /defconfig is missing/],
    ['empty defconfig', { defconfig: '' }, /defconfig is empty/],
    ['download_name with a slash', { download_name: '../x' }, /download_name must be a file name/],
    ['odd ext', { ext: 'tgz' }, /ext must look like ".tar.gz"/],
    ['relative download_dir', { download_dir: 'dl' }, /download_dir must be an absolute path/],
    ['build_path not a string', { build_path: 5 }, /build_path must be a string, got number 5/],
    ['missing cache_path', { cache_path: undefined }, /cache_path is missing/],
    ['missing platform_path', { platform_path: undefined }, /platform_path is missing/],
    ['platform_version a number', { platform_version: 1.28 }, /platform_version must be a version string/],
    ['docker not a map', { docker: 'img:1' }, /build_runner_config\[:docker\] must be a \{dockerfile, tag\} tuple/],
    ['relative dockerfile', { docker: { dockerfile: 'Dockerfile', tag: 'a:1' } }, /dockerfile must be an absolute path/],
    ['invalid tag', { docker: { dockerfile: '/D', tag: 'UPPER/case:1' } }, /tag "UPPER\/case:1" is not a valid image reference/],
    ['tag with a space', { docker: { dockerfile: '/D', tag: 'a b:1' } }, /is not a valid image reference/],
    ['short digest', { docker: { dockerfile: '/D', tag: 'a@sha256:abc' } }, /is not a valid image reference/],
    ['make_args a string', { make_args: 'PARALLEL_JOBS=8' }, /build_runner_opts\[:make_args\] must be a list of strings/],
    ['make_args with a number', { make_args: ['A=1', 2] }, /make_args\] must be a list of strings/],
    ['negative uid', { uid: -1 }, /uid must be a non-negative integer/],
    ['gid a string', { gid: '1000' }, /gid must be a non-negative integer/],
    ['tty not boolean', { tty: 'yes' }, /tty must be true or false/],
    ['keep_container not boolean', { keep_container: 1 }, /keep_container must be true or false/],
    ['bad downloads volume', { downloads_volume: '-bad name' }, /downloads_volume\] must be a volume name/],
    ['relative log_dir', { log_dir: '.' }, /log_dir must be an absolute path/],
  ];
  for (const [name, patch, re] of cases) {
    it(`refuses ${name}, naming the field`, () => expect(bad(patch)).toMatch(re));
  }

  it('accepts digest-pinned and registry-port references', () => {
    for (const tag of ['127.0.0.1:5000/ndt/x@sha256:' + 'a'.repeat(64), 'ghcr.io/a/b:1.2.3', 'localhost/x', 'x_y.z-w:t']) {
      expect(parseJobSpec({ ...good, docker: { dockerfile: '/D', tag } }).docker.tag).toBe(tag);
    }
  });
});

describe('layout and steps', () => {
  it('new images (>= 1.28.0): /home/nerves/project, no chown', () => {
    const s = parseJobSpec(good);
    const l = computeLayout(s, 'my_system-ID');
    expect(l.legacy).toBe(false);
    expect(l.workingDir).toBe('/home/nerves/project');
    expect(l.env).toEqual(['UID=1000', 'GID=1000', 'TERM=xterm', 'NERVES_BR_DL_DIR=/nerves/dl']);
    expect(l.mounts).toEqual([
      { type: 'volume', source: 'my_system-ID', target: '/home/nerves/project' },
      { type: 'bind', source: '/home/u/.nerves/dl', target: '/nerves/dl' },
      { type: 'bind', source: '/src/deps/nerves_system_br', target: '/nerves/env/platform' },
      { type: 'bind', source: '/src/my_system', target: '/nerves/env/my_system' },
    ]);
    expect(jobSteps('build', s, l, []).map((x) => x.cmd)).toEqual([
      ['/nerves/env/platform/create-build.sh', '/nerves/env/my_system/nerves_defconfig', '/home/nerves/project'],
      ['make', 'PARALLEL_JOBS=8'],
      ['make', 'system', 'NERVES_ARTIFACT_NAME=my_system-portable-0.1.0-ABCDEF1'],
    ]);
  });

  it('old images: /nerves/build, chown to UID:GID as root first, the entrypoint kept', () => {
    const s = parseJobSpec({ ...good, platform_version: '1.27.2' });
    const l = computeLayout(s, 'v');
    expect(l.legacy).toBe(true);
    expect(l.workingDir).toBe('/nerves/build');
    const steps = jobSteps('archive', s, l, ['/entry.sh']);
    expect(steps.map((x) => [x.name, x.cmd, x.env])).toEqual([
      ['chown', ['/entry.sh', 'chown', '1000:1000', '/nerves/build'], ['UID=0', 'GID=0']],
      ['make system', ['/entry.sh', 'make', 'system', 'NERVES_ARTIFACT_NAME=my_system-portable-0.1.0-ABCDEF1'], undefined],
    ]);
  });

  it('decides new images as upstream does', () => {
    expect(isNewImage(null)).toBe(false);
    expect(isNewImage('1.27.99')).toBe(false);
    expect(isNewImage('1.28.0')).toBe(true);
    // Elixir: Version.match?("1.28.0-rc.1", ">= 1.28.0") is false.
    expect(isNewImage('1.28.0-rc.1')).toBe(false);
    expect(isNewImage('garbage')).toBe(false);
    expect(isNewImage('2.0.0')).toBe(true);
  });

  it('a downloads volume replaces the download dir bind', () => {
    const l = computeLayout(parseJobSpec({ ...good, downloads_volume: 'nerves_dl' }), 'v');
    expect(l.mounts[1]).toEqual({ type: 'volume', source: 'nerves_dl', target: '/nerves/dl' });
  });
});

describe('build_runner_opts for inputs and resources', () => {
  it('defaults: inputs auto, nothing excluded, no ssh volume, no limits', () => {
    const s = parseJobSpec(good);
    expect([s.inputs, s.inputs_exclude, s.ssh_volume, s.cpus, s.memory]).toEqual(['auto', [], null, null, null]);
  });

  it('takes inputs, exclude patterns, an ssh volume and limits', () => {
    const s = parseJobSpec({
      ...good,
      inputs: 'copy',
      inputs_exclude: ['*.iso', '/scratch/'],
      ssh_volume: 'builder-ssh',
      cpus: 1.5,
      memory: '8G',
    });
    expect([s.inputs, s.inputs_exclude, s.ssh_volume, s.cpus, s.memory]).toEqual([
      'copy',
      ['*.iso', '/scratch/'],
      'builder-ssh',
      1.5,
      8 * 1024 ** 3,
    ]);
    expect(parseMemory('512m', 'm')).toBe(512 * 1024 ** 2);
    expect(parseMemory('2GiB', 'm')).toBe(2 * 1024 ** 3);
    expect(parseMemory(1073741824, 'm')).toBe(1024 ** 3);
    expect(parseCpus('6', 'c')).toBe(6);
  });

  it('takes memory in bytes from 4 GiB on as the Mix plugin sends it (msgpack uint64: a bigint here)', () => {
    // build_runner_opts memory: 8_589_934_592, as NervesDockerTs.Msgpack encodes an integer beyond 32 bits.
    const fromMix = decodeMessage(
      Buffer.concat([Buffer.from([0x81, 0xa6]), Buffer.from('memory'), Buffer.from([0xcf, 0, 0, 0, 2, 0, 0, 0, 0])]),
    );
    expect(fromMix).toEqual({ memory: 8589934592n });
    expect(parseJobSpec({ ...good, ...(fromMix as object) }).memory).toBe(8 * 1024 ** 3);
    expect(() => parseJobSpec({ ...good, memory: 2n ** 60n })).toThrow(/memory\] must be a size such as "8G"/);
    expect(() => parseJobSpec({ ...good, memory: 1024n })).toThrow(/at least 6M/);
    // Any int64 a peer may send: a CPU count too.
    expect(parseJobSpec({ ...good, cpus: 6n }).cpus).toBe(6);
  });

  it('refuses bad values, naming the option', () => {
    expect(() => parseJobSpec({ ...good, inputs: 'rsync' })).toThrow(/build_runner_opts\[:inputs\] must be one of :auto, :copy, :bind/);
    expect(() => parseJobSpec({ ...good, inputs_exclude: 'x' })).toThrow(/inputs_exclude\] must be a list/);
    expect(() => parseJobSpec({ ...good, inputs_exclude: [''] })).toThrow(/inputs_exclude/);
    expect(() => parseJobSpec({ ...good, ssh_volume: '../x' })).toThrow(/ssh_volume\] must be a volume name/);
    expect(() => parseJobSpec({ ...good, cpus: 0 })).toThrow(/cpus\] must be a number of CPUs above 0/);
    // Below Docker's minimum the engine would take it and runc would fail the start with a raw cgroup error.
    expect(() => parseJobSpec({ ...good, cpus: 0.001 })).toThrow(
      /build_runner_opts\[:cpus\] must be at least 0\.01 \(Docker's minimum\), got number 0\.001/,
    );
    expect(parseJobSpec({ ...good, cpus: 0.01 }).cpus).toBe(0.01);
    expect(() => parseJobSpec({ ...good, memory: 'lots' })).toThrow(/memory\] must be a size such as "8G"/);
    expect(() => parseJobSpec({ ...good, memory: '1k' })).toThrow(/at least 6M/);
  });
});

// The job spec: the plain values the Mix plugin computes from a Nerves
// package (docs/job-spec.md), checked field by field before any work starts.
import { OpError } from '../errors.js';
import { isImageReference } from '../image/reference.js';

export interface DockerConfig {
  /** A Dockerfile, a directory holding one, or an image archive (.tar, .tar.gz). */
  dockerfile: string;
  /** The image reference: name:tag or name@sha256:digest. */
  tag: string;
}

export type InputsMode = 'auto' | 'copy' | 'bind';
export const INPUTS_MODES: readonly InputsMode[] = ['auto', 'copy', 'bind'];

export interface JobSpec {
  app: string;
  pkg_path: string;
  version: string;
  defconfig: string;
  download_name: string;
  ext: string;
  download_dir: string;
  build_path: string;
  cache_path: string;
  platform_path: string;
  platform_version: string | null;
  docker: DockerConfig;
  make_args: string[];
  uid: number;
  gid: number;
  term: string;
  /** Directory where build.log / archive.log are written (Mix's cwd). */
  log_dir: string;
  /** Home directory whose .ssh is mounted read-only when present. */
  home: string;
  /** Whether Mix prints to a terminal (status line) or not (keep-alive dots). */
  tty: boolean;
  /** Keep the build container (stopped) for post-mortem debugging. */
  keep_container: boolean;
  /** Keep downloads in this named volume instead of binding download_dir. */
  downloads_volume: string | null;
  /** How inputs reach the build container: bind mounts, copies into volumes, or auto (decided per build). */
  inputs: InputsMode;
  /** Patterns of files not copied into the input volumes, beyond the built-in ones (copy mode). */
  inputs_exclude: string[];
  /** A volume on the engine mounted read-only at ~/.ssh in copy mode (~/.ssh itself is never copied). */
  ssh_volume: string | null;
  /** CPUs the build container may use (null: no limit). */
  cpus: number | null;
  /** Memory the build container may use, in bytes (null: no limit). */
  memory: number | null;
}

const APP_RE = /^[a-z][a-z0-9_]*$/;
// Docker's volume name rule.
export const VOLUME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
function fail(field: string, problem: string, hint: string | null = null): never {
  throw new OpError('invalid_spec', `invalid build spec: ${field} ${problem}`, hint);
}

type Raw = Record<string, unknown>;

function str(raw: Raw, field: string, opts: { absolute?: boolean; optional?: boolean } = {}): string {
  const v = raw[field];
  if (v === undefined || v === null) {
    if (opts.optional) return '';
    fail(field, 'is missing');
  }
  if (typeof v !== 'string') fail(field, `must be a string, got ${describe(v)}`);
  if (v.length === 0 && !opts.optional) fail(field, 'is empty');
  if (v.includes('\0')) fail(field, 'contains a NUL byte');
  if (opts.absolute && v.length > 0 && !v.startsWith('/')) fail(field, `must be an absolute path, got "${v}"`);
  return v;
}

function int(raw: Raw, field: string): number {
  const v = raw[field];
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) fail(field, `must be a non-negative integer, got ${describe(v)}`);
  return n;
}

function bool(raw: Raw, field: string, dflt: boolean): boolean {
  const v = raw[field];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') fail(field, `must be true or false, got ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Buffer.isBuffer(v)) return 'binary data';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `${typeof v} ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`;
}

/** Checks the shape of every field; throws OpError('invalid_spec') naming the field. */
export function parseJobSpec(input: unknown): JobSpec {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) fail('spec', 'must be a map');
  const raw = input as Raw;
  const app = str(raw, 'app');
  if (!APP_RE.test(app)) fail('app', `must be an OTP application name (lowercase letters, digits, _), got "${app}"`);

  const dockerRaw = raw.docker;
  if (dockerRaw === null || typeof dockerRaw !== 'object' || Array.isArray(dockerRaw)) {
    fail(
      'build_runner_config[:docker]',
      'must be a {dockerfile, tag} tuple',
      'For example: build_runner_config: [docker: {"Dockerfile", "my_system:0.1.0"}]',
    );
  }
  const docker = dockerRaw as Raw;
  const dockerfile = str(docker, 'dockerfile', { absolute: true });
  const tag = str(docker, 'tag');
  if (!isImageReference(tag)) {
    fail(
      'build_runner_config[:docker] tag',
      `"${tag}" is not a valid image reference`,
      'Use name:tag (lowercase name) or name@sha256:<64 hex digits>.',
    );
  }

  const makeArgs = raw.make_args ?? [];
  if (!Array.isArray(makeArgs) || makeArgs.some((a) => typeof a !== 'string')) {
    fail(
      'build_runner_opts[:make_args]',
      `must be a list of strings, got ${describe(makeArgs)}`,
      'For example: build_runner_opts: [make_args: ["PARALLEL_JOBS=8"]]',
    );
  }

  const downloadsVolume = raw.downloads_volume ?? null;
  if (downloadsVolume !== null) {
    if (typeof downloadsVolume !== 'string' || !VOLUME_RE.test(downloadsVolume)) {
      fail('build_runner_opts[:downloads_volume]', `must be a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*), got ${describe(downloadsVolume)}`);
    }
  }

  const defconfig = str(raw, 'defconfig');
  const downloadName = str(raw, 'download_name');
  if (downloadName.includes('/')) fail('download_name', `must be a file name, got "${downloadName}"`);
  const ext = str(raw, 'ext');
  if (!/^\.[a-z0-9.]+$/.test(ext)) fail('ext', `must look like ".tar.gz", got "${ext}"`);
  const platformVersion = raw.platform_version;
  if (platformVersion !== undefined && platformVersion !== null && typeof platformVersion !== 'string') {
    fail('platform_version', `must be a version string, got ${describe(platformVersion)}`);
  }

  return {
    app,
    pkg_path: str(raw, 'pkg_path', { absolute: true }),
    version: str(raw, 'version'),
    defconfig,
    download_name: downloadName,
    ext,
    download_dir: str(raw, 'download_dir', { absolute: true }),
    build_path: str(raw, 'build_path', { absolute: true }),
    cache_path: str(raw, 'cache_path', { absolute: true }),
    platform_path: str(raw, 'platform_path', { absolute: true }),
    platform_version: (platformVersion as string | null | undefined) ?? null,
    docker: { dockerfile, tag },
    make_args: makeArgs as string[],
    uid: int(raw, 'uid'),
    gid: int(raw, 'gid'),
    term: str(raw, 'term', { optional: true }) || 'xterm-256color',
    log_dir: str(raw, 'log_dir', { absolute: true }),
    home: str(raw, 'home', { absolute: true, optional: true }),
    tty: bool(raw, 'tty', false),
    keep_container: bool(raw, 'keep_container', false),
    downloads_volume: downloadsVolume as string | null,
    ...parseRunnerOpts(raw),
  };
}

type RunnerOpts = Pick<JobSpec, 'inputs' | 'inputs_exclude' | 'ssh_volume' | 'cpus' | 'memory'>;

/** build_runner_opts beyond make_args, keep_container and downloads_volume. */
function parseRunnerOpts(raw: Raw): RunnerOpts {
  const inputs = raw.inputs ?? 'auto';
  if (typeof inputs !== 'string' || !(INPUTS_MODES as readonly string[]).includes(inputs)) {
    fail(
      'build_runner_opts[:inputs]',
      `must be one of :auto, :copy, :bind, got ${describe(inputs)}`,
      'For example: build_runner_opts: [inputs: :copy]',
    );
  }
  const exclude = raw.inputs_exclude ?? [];
  if (!Array.isArray(exclude) || exclude.some((p) => typeof p !== 'string' || p === '' || p.includes('\0'))) {
    fail(
      'build_runner_opts[:inputs_exclude]',
      `must be a list of non-empty patterns, got ${describe(exclude)}`,
      'For example: build_runner_opts: [inputs_exclude: ["*.iso", "/scratch/"]]',
    );
  }
  const sshVolume = raw.ssh_volume ?? null;
  if (sshVolume !== null && (typeof sshVolume !== 'string' || !VOLUME_RE.test(sshVolume))) {
    fail('build_runner_opts[:ssh_volume]', `must be a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*), got ${describe(sshVolume)}`);
  }
  return {
    inputs: inputs as InputsMode,
    inputs_exclude: exclude as string[],
    ssh_volume: sshVolume as string | null,
    cpus: parseCpus(raw.cpus ?? null, 'build_runner_opts[:cpus]'),
    memory: parseMemory(raw.memory ?? null, 'build_runner_opts[:memory]'),
  };
}

/** Docker refuses less (`--cpus`: "Range of CPUs is from 0.01 to ..."). */
const MIN_CPUS = 0.01;

/** A CPU count (6, 1.5), or null. */
export function parseCpus(v: unknown, field: string): number | null {
  if (v === null) return null;
  const n = (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v)) || typeof v === 'bigint' ? Number(v) : v;
  const hint = 'For example: cpus: 6 (or NERVES_DOCKER_TS_CPUS=6)';
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > 4096)
    fail(field, `must be a number of CPUs above 0, got ${describe(v)}`, hint);
  // Less passes the engine's own check and fails the container's start in runc ("cpu.cfs_quota_us: invalid argument").
  if (n < MIN_CPUS) fail(field, `must be at least ${MIN_CPUS} (Docker's minimum), got ${describe(v)}`, hint);
  return n;
}

const MEMORY_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
/** Docker refuses less. */
const MIN_MEMORY = 6 * 1024 ** 2;

/**
 * Bytes, or a size such as "8G", "512m", "8GiB"; null when not set. Bytes
 * from 4 GiB on come from the Mix plugin as msgpack uint64, a bigint here.
 */
export function parseMemory(v: unknown, field: string): number | null {
  if (v === null) return null;
  const hint = 'For example: memory: "8G" (or NERVES_DOCKER_TS_MEMORY=8G); at least 6M';
  let bytes: number | null = null;
  if (typeof v === 'number' && Number.isInteger(v)) bytes = v;
  else if (typeof v === 'bigint') bytes = Number(v);
  else if (typeof v === 'string') {
    const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/i.exec(v.trim());
    if (m) bytes = Math.floor(Number(m[1]) * MEMORY_UNITS[m[2]!.toLowerCase()]!);
  }
  if (bytes === null || !Number.isSafeInteger(bytes))
    fail(field, `must be a size such as "8G" or a number of bytes, got ${describe(v)}`, hint);
  if (bytes < MIN_MEMORY) fail(field, `must be at least 6M (Docker's minimum), got ${describe(v)}`, hint);
  return bytes;
}

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
    fail('build_runner_config[:docker]', 'must be a {dockerfile, tag} tuple', 'For example: build_runner_config: [docker: {"Dockerfile", "my_system:0.1.0"}]');
  }
  const docker = dockerRaw as Raw;
  const dockerfile = str(docker, 'dockerfile', { absolute: true });
  const tag = str(docker, 'tag');
  if (!isImageReference(tag)) {
    fail('build_runner_config[:docker] tag', `"${tag}" is not a valid image reference`, 'Use name:tag (lowercase name) or name@sha256:<64 hex digits>.');
  }

  const makeArgs = raw.make_args ?? [];
  if (!Array.isArray(makeArgs) || makeArgs.some((a) => typeof a !== 'string')) {
    fail('build_runner_opts[:make_args]', `must be a list of strings, got ${describe(makeArgs)}`, 'For example: build_runner_opts: [make_args: ["PARALLEL_JOBS=8"]]');
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
  };
}

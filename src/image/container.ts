// buildContainer: an OCI runtime bundle (config.json per runtime-spec 1.0 and
// rootfs/) that runs `args`. Like nixpkgs' ociTools.buildContainer, store
// paths in the closure of args are bind-mounted read-only; unlike it, the
// `mounts` option is honoured, and copyToRoot directories fill rootfs/.
import { chmod, cp, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { scanClosure, storePathsIn } from './closure.js';
import { goArch } from './config.js';
import { OpError } from '../errors.js';
import { checkId, shown } from './check-options.js';
import { checkInputDirs, checkOutputPath } from './check-paths.js';

export interface MountSpec {
  destination?: string;
  type?: string;
  source: string;
  options?: string[];
}

export interface ContainerOptions {
  /** Command and arguments; the first should be an absolute path. */
  args: string[];
  /** Bundle directory to create. */
  out: string;
  /** nixpkgs style { "/dest": { type, source, options } } or a list with destinations. Default type "none" with "rbind". */
  mounts?: Record<string, MountSpec> | (MountSpec & { destination: string })[];
  /** Read-only root filesystem (default false). */
  readonly?: boolean;
  os?: string;
  arch?: string;
  /** Directories copied into rootfs/. */
  copyToRoot?: string | string[];
  env?: string[];
  cwd?: string;
  hostname?: string;
  terminal?: boolean;
  uid?: number;
  gid?: number;
  /** Default /nix/store: store paths used by args are bind-mounted read-only. */
  storeDir?: string;
}

export interface ContainerResult {
  path: string;
  config: Record<string, unknown>;
  storePaths: string[];
}

const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

const MOUNTS_HINT =
  'Give mounts (--mounts) as JSON: {"/dest": {"type": "none", "source": "./dir", "options": ["rbind", "ro"]}} or [{"destination": "/dest", "source": "./dir"}].';

function normaliseMounts(m: ContainerOptions['mounts']): (MountSpec & { destination: string })[] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (m !== undefined && !Array.isArray(m) && !isObject(m))
    throw new OpError('image_options', `mounts must be a JSON object of destinations or a list of mounts (got ${shown(m)})`, MOUNTS_HINT);
  const list = m === undefined ? [] : Array.isArray(m) ? m : Object.entries(m).map(([destination, spec]) => ({ ...spec, destination }));
  return list.map((x: unknown, i) => {
    const where = Array.isArray(m) ? `mounts[${i}]` : 'mounts';
    if (!isObject(x)) throw new OpError('image_options', `${where} must be an object (got ${shown(x)})`, MOUNTS_HINT);
    if (typeof x.destination !== 'string' || !x.destination.startsWith('/'))
      throw new OpError(
        'image_options',
        `mount destination must be absolute: ${String(x.destination)}`,
        'Give each mount an absolute destination, e.g. {"destination": "/data", "source": "./data"}.',
      );
    const at = `mount ${x.destination}`;
    if (typeof x.source !== 'string')
      throw new OpError('image_options', `${at}: source must be a string (got ${shown(x.source)})`, MOUNTS_HINT);
    if (x.type !== undefined && typeof x.type !== 'string')
      throw new OpError('image_options', `${at}: type must be a string (got ${shown(x.type)})`, MOUNTS_HINT);
    if (x.options !== undefined && !(Array.isArray(x.options) && x.options.every((o) => typeof o === 'string')))
      throw new OpError('image_options', `${at}: options must be a list of strings (got ${shown(x.options)})`, MOUNTS_HINT);
    const type = (x.type as string | undefined) ?? 'none';
    const options = (x.options as string[] | undefined) ?? (type === 'none' || type === 'bind' ? ['rbind'] : []);
    return { destination: x.destination, type, source: type === 'none' || type === 'bind' ? resolve(x.source) : x.source, options };
  });
}

/** The variables every bundle has unless `env` sets them (runc's default spec has these two; nixpkgs' args are absolute store paths and need none). */
export const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'];

/** `env` checked (each NAME=value, as runc requires) over the defaults: a default stays unless `env` sets its variable. */
function processEnv(env: unknown): string[] {
  if (env === undefined) return DEFAULT_ENV;
  const hint = 'Give each variable as NAME=value (--env A=1 --env B=2, or --env \'["A=1","B=2"]\').';
  if (!Array.isArray(env)) throw new OpError('image_options', `env must be a list of NAME=value strings (got ${shown(env)})`, hint);
  for (const e of env)
    if (typeof e !== 'string' || !/^[^=\0]+=[^\0]*$/.test(e))
      throw new OpError(
        'image_options',
        `env entry ${typeof e === 'string' ? JSON.stringify(e) : `(${shown(e)})`} is not NAME=value (runc refuses a variable without "=" or with an empty name)`,
        hint,
      );
  const names = new Set((env as string[]).map((e) => e.slice(0, e.indexOf('='))));
  return [...DEFAULT_ENV.filter((d) => !names.has(d.slice(0, d.indexOf('=')))), ...(env as string[])];
}

/** The options runc would refuse in the bundle, checked before it is written. */
function checkProcess(opts: ContainerOptions): void {
  if (!Array.isArray(opts.args) || !opts.args.every((a) => typeof a === 'string'))
    throw new OpError(
      'image_options',
      `args must be a list of strings (got ${shown(opts.args)})`,
      'Give the command to run after -- (or as args in the options).',
    );
  if (opts.cwd !== undefined && (typeof opts.cwd !== 'string' || !opts.cwd.startsWith('/')))
    throw new OpError(
      'image_options',
      `cwd must be an absolute path in the container (got ${shown(opts.cwd)})`,
      'Give cwd (--cwd) a path starting with /, e.g. /srv (runc refuses a relative one).',
    );
  checkId('uid', opts.uid);
  checkId('gid', opts.gid);
  processEnv(opts.env);
}

function baseMounts() {
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
}

export function containerConfig(opts: ContainerOptions, storePaths: string[]): Record<string, unknown> {
  checkProcess(opts);
  if (opts.args.length === 0)
    throw new OpError(
      'image_options',
      'buildContainer: args must not be empty',
      'Give the command to run after -- (or as args in the options).',
    );
  const user = normaliseMounts(opts.mounts);
  const store = storePaths.map((p) => ({ destination: p, type: 'none', source: p, options: ['bind', 'ro'] }));
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: opts.terminal ?? false,
      user: { uid: opts.uid ?? 0, gid: opts.gid ?? 0 },
      args: opts.args,
      env: processEnv(opts.env),
      cwd: opts.cwd ?? '/',
      capabilities: { bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, permitted: DEFAULT_CAPS, ambient: DEFAULT_CAPS },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: opts.readonly ?? false },
    hostname: opts.hostname ?? 'nerves-docker',
    mounts: [...baseMounts(), ...store, ...user],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
    annotations: { 'org.opencontainers.image.os': opts.os ?? 'linux', 'org.opencontainers.image.architecture': opts.arch ?? goArch() },
  };
}

export async function buildContainer(opts: ContainerOptions): Promise<ContainerResult> {
  checkProcess(opts);
  normaliseMounts(opts.mounts);
  await checkInputDirs('copyToRoot', opts.copyToRoot);
  await checkOutputPath(opts.out, 'directory');
  const out = resolve(opts.out);
  const existing = await readdir(out).catch(() => null);
  if (existing && existing.length > 0)
    throw new OpError(
      'output_exists',
      `bundle directory ${out} exists and is not empty`,
      'Choose a new --out directory, or remove this one first.',
    );
  const storeDir = (opts.storeDir ?? '/nix/store').replace(/\/+$/, '');
  const roots = storePathsIn(JSON.stringify({ args: opts.args, env: opts.env ?? [] }), storeDir);
  const present = [];
  for (const r of roots)
    if (
      await stat(r).then(
        () => true,
        () => false,
      )
    )
      present.push(r);
  const storePaths = present.length > 0 ? (await scanClosure(present, storeDir)).map((n) => n.path).sort() : [];
  for (const m of normaliseMounts(opts.mounts)) {
    if (
      (m.type === 'none' || m.type === 'bind') &&
      !(await stat(m.source).then(
        () => true,
        () => false,
      ))
    ) {
      throw new OpError(
        'input_missing',
        `mount source ${m.source} (for ${m.destination}) does not exist`,
        'Create the mount source first, or correct its path (relative paths are from the current directory).',
      );
    }
  }
  const config = containerConfig(opts, storePaths);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  try {
    await mkdir(join(tmp, 'rootfs'), { recursive: true });
    const dirs = opts.copyToRoot === undefined ? [] : Array.isArray(opts.copyToRoot) ? opts.copyToRoot : [opts.copyToRoot];
    for (const d of dirs)
      await cp(d, join(tmp, 'rootfs'), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
    await writeFile(join(tmp, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    // What the bundle itself is made of gets fixed modes, not the umask's (umoci's follow it: 0700 rootfs/ under 077).
    for (const [p, mode] of [
      [tmp, 0o755],
      [join(tmp, 'rootfs'), 0o755],
      [join(tmp, 'config.json'), 0o644],
    ] as const)
      await chmod(p, mode);
    if (existing) await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return { path: out, config, storePaths };
}

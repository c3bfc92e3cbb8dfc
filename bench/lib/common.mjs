// Shared pieces of the benchmarks: workspaces (a private copy of the example
// platform and system, laid out so that its mix.exs path deps resolve), the
// job spec, a sidecar client speaking the real protocol, the upstream docker
// CLI sequence, statistics, /proc sampling and cleanup. Plain Node ESM over
// dist/ and priv/ (run `npm run build` first).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';

export const ROOT = resolve(import.meta.dirname, '../..');
export const TAG = 'localhost/nerves-docker-ts/example-br:0.1.0';
export const APP = 'example_system';
export const WD = '/home/nerves/project'; // nerves_system_br 1.28.1: the new image style
export const DOCKER = process.env.DOCKER_CLI || 'docker';

const dist = (p) => import(join(ROOT, 'dist', p));

export function log(...a) {
  process.stderr.write(`[bench] ${a.join(' ')}\n`);
}

export function intEnv(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number, got ${v}`);
  return n;
}

/** Flags --name=value / --name value from argv. */
export function argOf(name, dflt) {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1] ?? dflt;
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return dflt;
}
export const hasFlag = (name) => process.argv.slice(2).includes(`--${name}`);

// ---------------------------------------------------------------- statistics

export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { median, min: s[0], max: s[n - 1], n };
}

/** The whole machine's CPU time so far, from /proc/stat, in USER_HZ ticks: idle (idle and iowait) and total. */
export function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
}

/**
 * Waits (untimed) until the machine is quiet: at least `idle` of its CPU time
 * idle over a 250 ms window, at most `maxMs`. After an image removal the
 * engine and the kernel go on working for seconds (deleting a layer's files,
 * writing back), and the next timed method would pay for it. Resolves with
 * the milliseconds waited.
 */
export async function settle({ idle = 0.9, maxMs = 15_000 } = {}) {
  const t0 = performance.now();
  const sample = machineTicks;
  while (performance.now() - t0 < maxMs) {
    const a = sample();
    await new Promise((r) => setTimeout(r, 250));
    const b = sample();
    if (b.total > a.total && (b.idle - a.idle) / (b.total - a.total) >= idle) break;
  }
  return performance.now() - t0;
}

/**
 * Writes back what earlier runs left dirty in the page cache (sync), then
 * settles: a run that writes a GiB leaves the kernel writing it back during
 * the next run, which then pays for its predecessor (an A/B pair's second
 * run, every time). Each timed run of the exec-stream benches starts here.
 */
export async function quiesce() {
  await execa('sync');
  return settle({ idle: 0.8, maxMs: 10_000 });
}

export const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : String(x));
export const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : String(x));
export const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : String(x));

/** A plain text table: rows of cells, first row the header. */
export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? String(c ?? '').padEnd(widths[i]) : String(c ?? '').padStart(widths[i]))).join('  '))
    .join('\n');
}

// ---------------------------------------------------------------- /proc

export function procStatus(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number((text.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1] ?? NaN);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return { rssKb: NaN, hwmKb: NaN };
  }
}

export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

export function sha256File(path) {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (c) => h.update(c))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}

// ---------------------------------------------------------------- workspace

/**
 * A private copy of examples/ in a temp dir:
 *   DIR/examples/system, DIR/examples/platform   (copies)
 *   DIR/mix_plugin -> ROOT/mix_plugin             (so the system's ../../mix_plugin dep resolves)
 *   DIR/dl (world-writable: the image's user 1005 copies the artifact there, as upstream does)
 *   DIR/home/.ssh (empty: upstream binds ~/.ssh and fails when it is missing)
 */
export function makeWorkspace(prefix = 'ndt-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const system = join(dir, 'examples/system');
  const platform = join(dir, 'examples/platform');
  const filter = (src) => !/\/(_build|deps|\.nerves)(\/|$)|build\.log$|archive\.log$/.test(src);
  cpSync(join(ROOT, 'examples/system'), system, { recursive: true, filter });
  cpSync(join(ROOT, 'examples/platform'), platform, { recursive: true, filter });
  symlinkSync(join(ROOT, 'mix_plugin'), join(dir, 'mix_plugin'));
  const dl = join(dir, 'dl');
  mkdirSync(dl);
  chmodSync(dl, 0o777);
  const home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  const logDir = join(dir, 'logs');
  mkdirSync(logDir);
  const base = `${APP}-portable-0.1.0`;
  const ws = {
    dir,
    system,
    platform,
    dl,
    home,
    logDir,
    buildPath: join(system, '.nerves/artifacts', base),
    downloadName: `${base}-BENCH01`,
    spec(overrides = {}) {
      return {
        app: APP,
        pkg_path: system,
        version: '0.1.0',
        defconfig: 'nerves_defconfig',
        download_name: ws.downloadName,
        ext: '.tar.gz',
        download_dir: dl,
        build_path: ws.buildPath,
        cache_path: join(dir, 'cache', base),
        platform_path: platform,
        platform_version: '1.28.1',
        docker: { dockerfile: join(ROOT, 'examples/platform/support/docker/nerves_system_br/Dockerfile'), tag: TAG },
        make_args: [],
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        term: process.env.TERM || 'xterm-256color',
        log_dir: logDir,
        home,
        tty: false,
        keep_container: false,
        downloads_volume: null,
        ...overrides,
      };
    },
    /** The build volume our runner made for this workspace (from .docker_id), or null. */
    ourVolume() {
      const f = join(ws.buildPath, '.docker_id');
      return existsSync(f) ? `${APP}-${readFileSync(f, 'utf8').trim()}` : null;
    },
    /** Removes our build volume and the temp dir; returns the names of what could not be removed. */
    async remove() {
      const left = [];
      const v = ws.ourVolume();
      if (v) {
        // our containers of that volume first (there should be none), then the volume
        const ps = await dockerQuiet(['ps', '-aq', '--filter', `label=io.github.nerves-docker-ts.volume=${v}`]);
        for (const id of ps.stdout.split('\n').filter(Boolean)) {
          await dockerQuiet(['rm', '-f', id]);
          left.push(`container ${id.slice(0, 12)} (removed now)`);
        }
        // the build volume and, from copy builds, its inputs' volumes
        for (const name of [v, `${v}-platform`, `${v}-package`]) {
          const r = await dockerQuiet(['volume', 'rm', '-f', name]);
          if (r.exitCode !== 0 && (await dockerQuiet(['volume', 'inspect', name])).exitCode === 0)
            left.push(`volume ${name}: ${r.stderr.trim()}`);
        }
      }
      rmSync(dir, { recursive: true, force: true });
      if (left.length) log(`cleanup of ${dir}: ${left.join('; ')}`);
      return left;
    },
  };
  return ws;
}

export async function dockerQuiet(args) {
  return execa(DOCKER, args, { reject: false, stdin: 'ignore' });
}

/** The environment for Mix runs inside a workspace: its HOME (for ~/.ssh), its download dir, yes to prompts. */
export function mixEnv(ws, extra = {}) {
  return {
    ...process.env,
    NERVES_DL_DIR: ws.dl,
    NERVES_DOCKER_TS_YES: '1',
    NERVES_ARTIFACTS_DIR: join(ws.dir, 'artifacts'),
    MIX_HOME: process.env.MIX_HOME || join(process.env.HOME || '/root', '.mix'),
    HEX_HOME: process.env.HEX_HOME || join(process.env.HOME || '/root', '.hex'),
    HOME: ws.home,
    ...extra,
  };
}

/** Compiles the workspace's Mix project (untimed), so later runs measure no compilation. */
export async function mixCompile(ws) {
  await execa('mix', ['compile'], { cwd: ws.system, env: mixEnv(ws), stdin: 'ignore' });
}

// ---------------------------------------------------------------- sidecar client

/**
 * The sidecar run as the plugin runs it (node priv/sidecar.mjs, frames on
 * stdio), spoken to from here. `pid` is node's pid, for /proc sampling.
 */
export class SidecarClient {
  static async start({ env = {}, stderrFile, entry = join(ROOT, 'priv/sidecar.mjs') } = {}) {
    const { encodeMessage, decodeMessage } = await dist('protocol/codec.js');
    const { encodeFrame, FrameDecoder } = await dist('protocol/frame.js');
    const t0 = performance.now();
    const child = spawn(process.execPath, [entry], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const c = new SidecarClient(child, { encodeMessage, decodeMessage, encodeFrame, FrameDecoder });
    c.stderrFile = stderrFile;
    const hello = await c.next;
    c.helloMs = performance.now() - t0;
    c.hello = hello.hello;
    return c;
  }

  constructor(child, codec) {
    this.child = child;
    this.pid = child.pid;
    this.codec = codec;
    this.nextId = 1;
    this.calls = new Map();
    this.stderr = '';
    this.exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
    let helloRes;
    this.next = new Promise((res) => (helloRes = res));
    const decoder = new codec.FrameDecoder();
    child.stdout.on('data', (chunk) => {
      for (const body of decoder.push(chunk)) {
        const msg = codec.decodeMessage(body);
        if (msg && msg.hello) {
          helloRes(msg);
          continue;
        }
        const id = typeof msg.id === 'bigint' ? Number(msg.id) : msg.id;
        const call = this.calls.get(id);
        if (!call) continue;
        if ('event' in msg) call.onEvent(msg.event, msg.data);
        else if ('prompt' in msg) this.send({ id, ref: msg.prompt.ref, answer: true });
        else if ('error' in msg) {
          this.calls.delete(id);
          const e = new Error(`${msg.error.code}: ${msg.error.message}`);
          e.info = msg.error;
          call.reject(e);
        } else {
          this.calls.delete(id);
          call.resolve(msg.ok);
        }
      }
    });
    child.stderr.on('data', (c) => {
      this.stderr = (this.stderr + c.toString()).slice(-8192);
      if (process.env.BENCH_SIDECAR_STDERR) process.stderr.write(c);
    });
    this.exited.then(({ code, signal }) => {
      for (const call of this.calls.values()) call.reject(new Error(`sidecar exited (${code ?? signal}): ${this.stderr.slice(-2000)}`));
      this.calls.clear();
    });
  }

  send(msg) {
    this.child.stdin.write(this.codec.encodeFrame(this.codec.encodeMessage(msg)));
  }

  request(op, args, onEvent = () => {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject, onEvent });
      this.send({ id, op, args });
    });
  }

  /** Closes stdin (the plugin's way to stop it) and waits for the exit. */
  async stop() {
    this.child.stdin.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15000);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }
}

// ---------------------------------------------------------------- upstream's docker CLI sequence

/** A volume name as upstream makes it: "<app>-<16 chars of A-Za-z0-9_>". */
export function upstreamVolumeName() {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_';
  const b = randomBytes(16);
  return `${APP}-${[...b].map((x) => alphabet[x % alphabet.length]).join('')}`;
}

/** Runs a command to completion, its stdout and stderr appended to `logFd` (as upstream's port streams them into build.log). */
export function runToLog(cmd, args, logFd) {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ['ignore', logFd, logFd] });
    child.on('error', rej);
    child.on('exit', (code, signal) => res(code ?? (signal ? 128 : 1)));
  });
}

/** Runs a command and returns its stdout (as Nerves.Port.cmd does). */
export function runCapture(cmd, args) {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('error', rej);
    child.on('exit', (code) => res({ code, out }));
  });
}

/**
 * Upstream's argv for one step (v1.14.1 docker.ex run/3, in its order):
 *   run --rm -w=WD -a stdout -a stderr --env UID= --env GID= --env TERM=
 *   --mount volume --mount dl --mount package --mount platform --env NERVES_BR_DL_DIR=/nerves/dl
 *   --mount ~/.ssh (readonly) IMAGE CMD...
 */
export function upstreamRunArgs(ws, volume, uid, gid, cmd) {
  const term = process.env.TERM || 'xterm-256color';
  return [
    'run',
    '--rm',
    `-w=${WD}`,
    '-a',
    'stdout',
    '-a',
    'stderr',
    '--env',
    `UID=${uid}`,
    '--env',
    `GID=${gid}`,
    '--env',
    `TERM=${term}`,
    '--mount',
    `type=volume,src=${volume},target=${WD}`,
    '--mount',
    `type=bind,src=${ws.dl},target=/nerves/dl`,
    '--mount',
    `type=bind,src=${ws.system},target=/nerves/env/${APP}`,
    '--mount',
    `type=bind,src=${ws.platform},target=/nerves/env/platform`,
    '--env',
    'NERVES_BR_DL_DIR=/nerves/dl',
    '--mount',
    `type=bind,src=${join(ws.home, '.ssh')},target=/home/nerves/.ssh,readonly`,
    TAG,
    ...cmd,
  ];
}

/** The four build steps' commands (upstream's create_build, make, make_artifact, copy_artifact). */
export function stepCommands(ws, makeArgs = []) {
  const file = `${ws.downloadName}.tar.gz`;
  return [
    ['/nerves/env/platform/create-build.sh', `/nerves/env/${APP}/nerves_defconfig`, WD],
    ['make', ...makeArgs],
    ['make', 'system', `NERVES_ARTIFACT_NAME=${ws.downloadName}`],
    ['cp', file, `/nerves/dl/${file}`],
  ];
}

/**
 * One build the way upstream does it (preflight, then a `docker run --rm` per
 * step; `id -u`/`id -g` per step as upstream's env/0 does), output appended to
 * logPath. Returns seconds.
 */
export async function upstreamBuild(ws, volume, logPath, makeArgs = []) {
  const { openSync, closeSync } = await import('node:fs');
  const t0 = performance.now();
  // preflight: host_check, config_check (volume exists? create; image exists?)
  const v = await runCapture(DOCKER, ['--version']);
  if (v.code !== 0 || !v.out.startsWith('Docker version ')) throw new Error(`docker --version: ${v.out}`);
  await runCapture(DOCKER, ['volume', 'ls', '-f', `name=${volume}`, '-q']);
  const c = await runCapture(DOCKER, ['volume', 'create', '--name', volume]);
  if (c.code !== 0) throw new Error(`docker volume create: ${c.out}`);
  const img = await runCapture(DOCKER, ['image', 'ls', TAG, '-q']);
  if (img.out.trim() === '') throw new Error(`image ${TAG} is missing`);
  const fd = openSync(logPath, 'w'); // Nerves.Utils.Stream truncates build.log
  try {
    for (const cmd of stepCommands(ws, makeArgs)) {
      const uid = (await runCapture('id', ['-u'])).out.trim();
      const gid = (await runCapture('id', ['-g'])).out.trim();
      const status = await runToLog(DOCKER, upstreamRunArgs(ws, volume, uid, gid, cmd), fd);
      if (status !== 0) throw new Error(`upstream step ${cmd.join(' ')} exited ${status}; see ${logPath}`);
    }
  } finally {
    closeSync(fd);
  }
  return (performance.now() - t0) / 1000;
}

// ---------------------------------------------------------------- the floor

/**
 * One long-running container with upstream's mounts and env, in which the
 * steps' own commands are run and timed (the floor).
 */
export async function startFloorContainer(ws, volume) {
  const uid = String(process.getuid?.() ?? 0);
  const gid = String(process.getgid?.() ?? 0);
  const args = upstreamRunArgs(ws, volume, uid, gid, ['/bin/sh', '-c', 'while read -r _; do :; done']);
  // run --rm -w ... -a stdout -a stderr ... -> run -d -i --rm ...
  args.splice(0, 7, 'run', '-d', '-i', '--rm', `-w=${WD}`, '--label', 'io.github.nerves-docker-ts.bench=floor');
  const r = await execa(DOCKER, args, { stdin: 'ignore' });
  return r.stdout.trim();
}

/**
 * Times the four steps inside the running container with one `docker exec`
 * of a script that reads a monotonic clock around each step (output to a log
 * file in the container, as build.log would take it). Returns seconds (in
 * the container) and the wall time of that exec.
 */
export async function floorInside(id, ws, makeArgs = []) {
  const steps = stepCommands(ws, makeArgs);
  // The commands are passed as argv segments (count, words...), never spliced into the script.
  const argv = [];
  for (const s of steps) argv.push(String(s.length), ...s);
  const bash =
    'set -e; : >/tmp/floor.log; t0=$(date +%s%N); ' +
    'while [ $# -gt 0 ]; do n=$1; shift; cmd=("${@:1:$n}"); shift "$n"; "${cmd[@]}" >>/tmp/floor.log 2>&1; done; ' +
    't1=$(date +%s%N); echo $(( (t1 - t0) / 1000 ))';
  const w0 = performance.now();
  const r = await execa(DOCKER, ['exec', '-w', WD, id, 'bash', '-c', bash, 'floor', ...argv], { stdin: 'ignore' });
  const wall = (performance.now() - w0) / 1000;
  return { inside: Number(r.stdout.trim()) / 1e6, wall };
}

/** The four steps as four `docker exec`s into the running container. Returns seconds. */
export async function floorExecs(id, ws, makeArgs = []) {
  const t0 = performance.now();
  for (const cmd of stepCommands(ws, makeArgs)) {
    const r = await execa(DOCKER, ['exec', '-w', WD, id, ...cmd], { stdin: 'ignore', reject: false });
    if (r.exitCode !== 0) throw new Error(`floor step ${cmd.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  }
  return (performance.now() - t0) / 1000;
}

// ---------------------------------------------------------------- engine census

/** Container and volume ids now on the engine. */
export async function census() {
  const c = await execa(DOCKER, ['ps', '-aq', '--no-trunc'], { stdin: 'ignore' });
  const v = await execa(DOCKER, ['volume', 'ls', '-q'], { stdin: 'ignore' });
  return {
    containers: c.stdout.split('\n').filter(Boolean),
    volumes: v.stdout.split('\n').filter(Boolean),
  };
}

/** Runs an Elixir script with `mix run` in the workspace's system project; returns its BENCH_JSON line parsed. */
export async function mixRunJson(ws, script, args = [], env = {}) {
  const r = await execa('mix', ['run', script, ...args], {
    cwd: ws.system,
    env: mixEnv(ws, env),
    stdin: 'ignore',
    reject: false,
    all: true,
  });
  const line = r.all
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('BENCH_JSON '));
  if (r.exitCode !== 0 || !line) throw new Error(`mix run ${script} failed (${r.exitCode}):\n${r.all.slice(-4000)}`);
  return JSON.parse(line.slice('BENCH_JSON '.length));
}

export function writeJson(path, value) {
  writeFileSync(path, JSON.stringify(value, null, 2));
}

/** Which of the volumes and containers a bench created still exist (after its cleanup). */
export async function stillThere({ volumes = [], containers = [] }) {
  const v = [];
  for (const name of volumes.filter(Boolean)) if ((await dockerQuiet(['volume', 'inspect', name])).exitCode === 0) v.push(name);
  const c = [];
  for (const id of containers.filter(Boolean)) if ((await dockerQuiet(['container', 'inspect', id])).exitCode === 0) c.push(id);
  return { volumes: v, containers: c };
}

/** One line: what this bench left (must be nothing) and, for information, the engine-wide change (other sessions included). */
export async function leftLine(created, before) {
  const left = await stillThere(created);
  const after = await census();
  const dc = after.containers.filter((c) => !before.containers.includes(c)).length;
  const dv = after.volumes.filter((v) => !before.volumes.includes(v)).length;
  const mine =
    left.volumes.length + left.containers.length === 0
      ? 'nothing'
      : `${left.containers.length} containers, ${left.volumes.length} volumes (${[...left.containers, ...left.volumes].join(', ')})`;
  return `left by this bench: ${mine}; engine-wide since its start (any session): ${dc >= 0 ? '+' : ''}${dc} containers, +${dv} volumes`;
}

/** The machine's state while a bench ran: other sessions may share it, and the figures move with the load. */
export function machineLine() {
  return `machine: ${cpus().length} cores, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} (1/5/15 min) at the end`;
}

// How a step's output reaches build.log. The exec's attach stream goes
// through dockerd, which copies it onto the HTTP connection: 60-110 MB/s on
// this kind of machine. When the engine runs on this machine's kernel, each
// step instead writes into a FIFO that is bind-mounted from a private host
// directory and read here with epoll: the bytes go kernel to kernel, and
// stdout and stderr arrive in exactly the order they were written (one fd).
// Remote engines and engines in a VM (Docker Desktop, podman machine) keep
// the exec stream. NERVES_DOCKER_TS_STEP_OUTPUT=exec|fifo overrides.
import { closeSync, constants, openSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import type Docker from 'dockerode';
import type { Engine } from '../engine/connect.js';
import type { MountSpec } from '../engine/containers.js';
import { runExec, type ExecSpec } from '../engine/exec.js';
import type { EngineVersion } from '../engine/version.js';
import { OpError } from '../sidecar/context.js';

export const OUTPUT_ENV = 'NERVES_DOCKER_TS_STEP_OUTPUT';
/** Where the FIFO's directory appears in the build container. */
export const FIFO_DIR_IN_CONTAINER = '/nerves/ndt-output';
const DIR_PREFIX = '.ndt-output-';
/** The FIFO directory's subdirectory, mode 0777, where the make system step leaves a copy of the artifact. */
const DROP = 'drop';
/** The wrapper's first write must arrive this soon: an open that blocks means the engine does not share our FIFOs. */
const TOKEN_TIMEOUT_MS = 15_000;
/** After the step ended, how long a process it left behind may keep the FIFO open (reset by each chunk). */
const LINGER_MS = 2_000;

export type OutputMode = 'fifo' | 'exec';

export interface OutputChoice {
  mode: OutputMode;
  why: string;
}

/** The FIFO path works only when the engine's containers run on our kernel and see our files. */
export function chooseOutputMode(engine: Pick<Engine, 'remote'>, version: Pick<EngineVersion, 'kernel'>, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, kernel: string = release()): OutputChoice {
  const forced = env[OUTPUT_ENV]?.trim();
  if (forced && forced !== 'auto') {
    if (forced !== 'fifo' && forced !== 'exec') {
      throw new OpError('invalid_env', `${OUTPUT_ENV}=${forced} is not one of auto, fifo, exec.`, `Unset ${OUTPUT_ENV} or set it to auto, fifo or exec.`);
    }
    return { mode: forced, why: `${OUTPUT_ENV}=${forced}` };
  }
  if (engine.remote) return { mode: 'exec', why: 'the engine is on another host' };
  if (platform !== 'linux') return { mode: 'exec', why: `the engine runs in a VM on ${platform}` };
  if (!version.kernel || version.kernel !== kernel) {
    return { mode: 'exec', why: `the engine's kernel (${version.kernel || 'unknown'}) is not this machine's (${kernel}): a VM` };
  }
  return { mode: 'fifo', why: 'the engine shares this kernel' };
}

/** Removes FIFO directories left by a runner that was killed (the caller holds the build lock). */
export async function removeStaleFifoDirs(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(DIR_PREFIX)).map((n) => rm(join(parent, n), { recursive: true, force: true })));
}

/**
 * FIFOs for a job's steps, one per step (a process a step leaves behind may
 * keep its FIFO open: the next step's output must not mix with it), in a
 * fresh directory under `parent` with mode 0711, so that their random names
 * cannot be listed.
 */
export class FifoOutput {
  readonly mount: MountSpec;
  private readonly ready: string[];

  private constructor(
    private readonly dir: string,
    names: string[],
  ) {
    this.mount = { type: 'bind', source: dir, target: FIFO_DIR_IN_CONTAINER };
    this.ready = names;
  }

  /** Makes the directory, its drop directory and `count` FIFOs in one go (more are made when a job runs more steps). */
  static async create(parent: string, count = 4): Promise<FifoOutput> {
    const dir = await mkdtemp(join(parent, DIR_PREFIX));
    try {
      await chmod(dir, 0o711);
      const names = await makeFifos(dir, count);
      await mkdir(join(dir, DROP));
      await chmod(join(dir, DROP), 0o777);
      return new FifoOutput(dir, names);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw new OpError('step_output', `cannot create the step output FIFO in ${parent}: ${(err as Error).message}`, `Set ${OUTPUT_ENV}=exec to stream step output through the engine instead.`);
    }
  }

  /**
   * Where a step may leave a file for the runner: in the container, and on
   * this host. The step's user (any uid) can write there; nobody else can
   * find it (the directory above is 0711 and its name random).
   */
  dropPath(file: string): { inContainer: string; onHost: string } {
    return { inContainer: `${FIFO_DIR_IN_CONTAINER}/${DROP}/${file}`, onHost: join(this.dir, DROP, file) };
  }

  /** The step's command, run by sh with stdout and stderr on the FIFO, after a token that proves the FIFO works. */
  wrap(name: string, cmd: string[], token: string): string[] {
    return ['/bin/sh', '-c', 'exec >"$0" 2>&1; printf %s "$1"; shift; exec "$@"', `${FIFO_DIR_IN_CONTAINER}/${name}`, token, ...cmd];
  }

  /**
   * Runs one step as an exec whose output flows through the FIFO into
   * `sink` (the exec's own stream, which then carries only the wrapper's
   * errors, goes there too). Returns the step's exit status.
   */
  async run(container: Docker.Container, spec: ExecSpec, sink: Writable, warn: (text: string) => void): Promise<number> {
    const token = `NDT${randomBytes(8).toString('hex')}`;
    const name = this.ready.shift() ?? (await makeFifos(this.dir, 1))[0]!;
    const path = join(this.dir, name);
    const rfd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    // Our own write end keeps the reader from seeing EOF before the step opens the FIFO.
    let wfd: number | null = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    const reader = new FifoReader(new Socket({ fd: rfd, readable: true, writable: false }), sink, Buffer.from(token));
    const closeWriter = () => {
      if (wfd !== null) closeSync(wfd);
      wfd = null;
    };
    try {
      const exec = runExec(container, { ...spec, cmd: this.wrap(name, spec.cmd, token) }, sink);
      exec.catch(() => {}); // when the token times out, the exec ends only with the container
      const status = await Promise.race([exec, reader.tokenTimeout(TOKEN_TIMEOUT_MS)]);
      closeWriter();
      // EOF (or a lingering writer) comes after every byte the step wrote, the token included.
      const eof = await reader.drained(LINGER_MS);
      if (!reader.sawToken) {
        throw new OpError(
          'step_output',
          `The step "${spec.cmd.join(' ')}" could not write into the runner's output FIFO (it exited with status ${status}).`,
          `Set ${OUTPUT_ENV}=exec to stream step output through the engine instead.`,
        );
      }
      if (!eof) warn('a process started by the step still holds its output open; what it writes from now on is not in the log');
      return status;
    } finally {
      closeWriter();
      reader.destroy();
    }
  }

  /**
   * Prepares steps to run one after another as the build container's own
   * work, with no exec at all (each exec costs the engine 50-100 ms): the
   * returned entrypoint is the keeper (PID 1, alive while the sidecar's
   * attach lasts) with a POSIX sh driver in the background, which gives
   * each step its FIFO and token and writes "NDT-STEP <index> <status>" to
   * a control FIFO when the step ends, stopping at the first failure. Every
   * FIFO has its reader open before the container starts.
   */
  async prepareSequence(steps: SequenceStep[]): Promise<PreparedSequence> {
    const names: string[] = [];
    for (let i = 0; i <= steps.length; i++) names.push(this.ready.shift() ?? (await makeFifos(this.dir, 1))[0]!);
    const ctlName = names.pop()!;
    const tokens = steps.map(() => `NDT${randomBytes(8).toString('hex')}`);
    const argv: string[] = [`${FIFO_DIR_IN_CONTAINER}/${ctlName}`];
    steps.forEach((st, i) => argv.push(`${FIFO_DIR_IN_CONTAINER}/${names[i]}`, tokens[i]!, String(st.cmd.length), ...st.cmd));
    const openPair = (name: string) => {
      const path = join(this.dir, name);
      const rfd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      // Our write end keeps EOF away until the container has opened the FIFO.
      const wfd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      const sock = new Socket({ fd: rfd, readable: true, writable: false });
      sock.pause();
      return { wfd: wfd as number | null, sock };
    };
    // Not flowing until its turn: a later step's output waits in its FIFO.
    const opened = names.map((name, i) => {
      const { wfd, sock } = openPair(name);
      return { wfd, reader: new FifoReader(sock, NOWHERE, Buffer.from(tokens[i]!)) };
    });
    const ctl = openPair(ctlName);
    const dispose = () => {
      for (const o of [...opened, ctl]) closeFd(o);
      for (const o of opened) o.reader.destroy();
      ctl.sock.destroy();
    };
    return {
      entrypoint: [...KEEPER_WITH_DRIVER, ...argv],
      run: (hooks, containerEnded) => runPrepared(steps, opened, ctl, hooks, containerEnded),
      dispose,
    };
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Reads a prepared sequence's control FIFO and its steps' FIFOs, step by step (see prepareSequence). */
async function runPrepared(
  steps: SequenceStep[],
  opened: Array<{ wfd: number | null; reader: FifoReader }>,
  ctl: { wfd: number | null; sock: Socket },
  hooks: SequenceHooks,
  containerEnded: Promise<unknown>,
): Promise<SequenceResult> {
  const ended = new Map<number, number>();
  let notify: (() => void) | null = null;
  let sink: Writable | null = null;
  const strays: Buffer[] = [];
  let driverDone = false;
  const done = () => {
    driverDone = true;
    notify?.();
  };
  const control = new ControlLines(
    (line) => (sink ? sink.write(line) : strays.push(line)),
    (index, status) => {
      ended.set(index, status);
      notify?.();
    },
    // The driver has the control FIFO open: from now on, its EOF means the driver is gone.
    () => closeFd(ctl),
  );
  ctl.sock.on('data', (chunk: Buffer) => control.write(chunk));
  ctl.sock.on('end', done);
  ctl.sock.on('error', done);
  ctl.sock.resume();
  void containerEnded.then(done, done);
  const results: SequenceStepResult[] = [];
  for (let i = 0; i < steps.length; i++) {
    sink = hooks.start(i);
    for (const line of strays.splice(0)) sink.write(line);
    const t0 = Date.now();
    const { reader } = opened[i]!;
    reader.resume(sink);
    const tokenTimer = reader.tokenTimeout(TOKEN_TIMEOUT_MS);
    tokenTimer.catch(() => {});
    while (!ended.has(i) && !driverDone) {
      await Promise.race([new Promise<void>((r) => (notify = r)), tokenTimer]);
      notify = null;
    }
    closeFd(opened[i]!);
    const eof = await reader.drained(LINGER_MS);
    if (!ended.has(i)) break; // the driver or the container ended without finishing this step
    if (!reader.sawToken) {
      throw new OpError(
        'step_output',
        `The step "${steps[i]!.cmd.join(' ')}" could not write into the runner's output FIFO (it exited with status ${ended.get(i)}).`,
        `Set ${OUTPUT_ENV}=exec to stream step output through the engine instead.`,
      );
    }
    if (!eof) hooks.warn('a process started by the step still holds its output open; what it writes from now on is not in the log');
    const status = ended.get(i)!;
    results.push({ status, seconds: (Date.now() - t0) / 1000 });
    if (status !== 0) break;
    if (i < steps.length - 1) {
      await hooks.end(i);
      sink = null;
    }
  }
  control.flush();
  if (sink) for (const line of strays.splice(0)) sink.write(line);
  return { results };
}

export interface PreparedSequence {
  /** The build container's entrypoint: the keeper, with the steps' driver in the background. */
  entrypoint: string[];
  /**
   * Follows the steps once the container runs: output reaches the hooks'
   * sinks step by step, in order. Returns the steps that ran with their
   * status (the last one is the failure, if any); fewer than asked when the
   * container (`containerEnded`) or the driver ended early.
   */
  run(hooks: SequenceHooks, containerEnded: Promise<unknown>): Promise<SequenceResult>;
  /** Closes every FIFO end this side holds (after run, or when the container never started). */
  dispose(): void;
}

export interface SequenceStep {
  cmd: string[];
}

export interface SequenceStepResult {
  status: number;
  seconds: number;
}

export interface SequenceResult {
  results: SequenceStepResult[];
}

export interface SequenceHooks {
  /** Step `index` is about to run (its output is next in the log): the sink for its output. */
  start(index: number): Writable;
  /** Step `index` is done and another follows: end its sink and wait until it is written. */
  end(index: number): Promise<void>;
  warn(text: string): void;
}

/** A FIFO reader's sink before its turn (it is paused until then, so nothing is written). */
const NOWHERE = new Writable({ write: (_c, _e, done) => done() });

/**
 * PID 1 of a sequence's container: the keeper (reads stdin until the
 * sidecar's attach closes, then exits, which ends every process in the
 * container; SIGTERM ends it at once) with the driver in the background.
 * Arguments: the control FIFO, then per step its FIFO, its token, its argc
 * and its argv. Only "${k}" references are ever eval'd, never argument text.
 */
const KEEPER_WITH_DRIVER = [
  '/bin/sh',
  '-c',
  [
    "trap 'exit 143' TERM INT HUP",
    'ctl=$1',
    'shift',
    '(',
    '  exec >"$ctl" 2>&1 </dev/null',
    "  printf 'NDT-START\\n'",
    '  i=0',
    '  while [ "$#" -gt 0 ]; do',
    '    f=$1 t=$2 n=$3',
    '    shift 3',
    '    refs= k=1',
    '    while [ "$k" -le "$n" ]; do refs="$refs \\"\\${$k}\\""; k=$((k + 1)); done',
    '    (eval "set -- $refs"; exec >"$f" 2>&1; printf %s "$t"; exec "$@")',
    '    s=$?',
    `    printf 'NDT-STEP %s %s\\n' "$i" "$s"`,
    '    [ "$s" -eq 0 ] || exit "$s"',
    '    shift "$n"',
    '    i=$((i + 1))',
    '  done',
    ') &',
    'while read -r _; do :; done',
  ].join('\n'),
  'ndt-keeper',
];

function closeFd(o: { wfd: number | null }): void {
  if (o.wfd !== null) closeSync(o.wfd);
  o.wfd = null;
}

/** The driver's control FIFO: its NDT-START and NDT-STEP lines are reported, anything else (shell errors) goes to the log. */
class ControlLines extends Writable {
  private partial = '';

  constructor(
    private readonly log: (line: Buffer) => void,
    private readonly onStep: (index: number, status: number) => void,
    private readonly onStart: () => void,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const lines = (this.partial + chunk.toString('latin1')).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.line(line);
    done();
  }

  private line(line: string): void {
    const m = /^NDT-STEP (\d+) (\d+)$/.exec(line);
    if (m) this.onStep(Number(m[1]), Number(m[2]));
    else if (line === 'NDT-START') this.onStart();
    else this.log(Buffer.from(`${line}\n`, 'latin1'));
  }

  flush(): void {
    if (this.partial) this.log(Buffer.from(this.partial, 'latin1'));
    this.partial = '';
  }
}

/** `count` FIFOs with random names, mode 0666: the step may run as any uid (the image's entrypoint drops to the host user's). */
async function makeFifos(dir: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, () => randomBytes(12).toString('hex'));
  // node:child_process, not execa: execa's import alone costs ~140 ms of every build's start.
  await promisify(execFile)('mkfifo', ['-m', '0666', '--', ...names.map((n) => join(dir, n))]);
  return names;
}

/** Reads the FIFO into the sink with backpressure, checking and dropping the token in front. */
class FifoReader {
  sawToken = false;
  private ended = false;
  private failed: Error | null = null;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private wake: (() => void) | null = null;

  constructor(
    private readonly sock: Socket,
    private sink: Writable,
    private readonly token: Buffer,
  ) {
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('end', () => this.settle(() => (this.ended = true)));
    sock.on('error', (err) => this.settle(() => (this.failed = err)));
  }

  private settle(change: () => void): void {
    change();
    this.wake?.();
  }

  private onData(chunk: Buffer): void {
    if (!this.sawToken) {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      if (this.pendingLen < this.token.length) return;
      const head = Buffer.concat(this.pending);
      this.pending = [];
      if (!head.subarray(0, this.token.length).equals(this.token)) {
        this.settle(() => (this.failed = new Error('unexpected data in front of the step output')));
        this.sock.destroy();
        return;
      }
      this.settle(() => (this.sawToken = true));
      chunk = head.subarray(this.token.length);
      if (chunk.length === 0) return;
    }
    this.wake?.();
    if (!this.sink.write(chunk)) {
      this.sock.pause();
      this.sink.once('drain', () => this.sock.resume());
    }
  }

  /** Rejects when the token has not come within `ms` (the promise never resolves). */
  tokenTimeout(ms: number): Promise<never> {
    return new Promise((_resolve, reject) => {
      const check = () => {
        if (this.sawToken) return;
        if (this.failed) return reject(new OpError('step_output', `The step output FIFO failed: ${this.failed.message}`, `Set ${OUTPUT_ENV}=exec to stream step output through the engine instead.`));
        reject(
          new OpError(
            'step_output',
            `The build container did not open the runner's output FIFO within ${ms / 1000} s: the engine does not seem to run on this machine's kernel.`,
            `Set ${OUTPUT_ENV}=exec to stream step output through the engine instead.`,
          ),
        );
      };
      const timer = setTimeout(check, ms);
      timer.unref();
      const prev = this.wake;
      this.wake = () => {
        prev?.();
        if (this.sawToken) clearTimeout(timer);
        else if (this.failed) {
          clearTimeout(timer);
          check();
        }
      };
    });
  }

  /** Waits for EOF (every writer gone); false when writers linger `ms` after the last chunk. */
  async drained(ms: number): Promise<boolean> {
    for (;;) {
      if (this.failed) throw this.failed;
      if (this.ended) return true;
      const progressed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        this.wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.wake = null;
      // A paused socket waits for a slow disk, not for a lingering writer.
      if (!progressed && !this.ended && !this.failed && !this.sock.isPaused()) return false;
    }
  }

  /** Starts the flow into `sink` (a reader made paused, with a placeholder sink). */
  resume(sink: Writable): void {
    this.sink = sink;
    this.sock.resume();
  }

  destroy(): void {
    this.wake = null;
    this.sock.destroy();
  }
}

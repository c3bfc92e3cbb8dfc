// The "shell" op (mix nerves.system.shell): the build container of a job spec
// (same image, mounts, env, working dir and user mode as a build), the build
// dir prepared by create-build.sh, then an interactive bash on the user's
// terminal (or a one-off command), and the container removed however it ends.
// With copied inputs (an engine that cannot see this machine's files), what
// the shell changed in the package comes back first (bring-back.ts).
//
// Terminal sharing with the BEAM: before attaching, the op asks the plugin
// (a prompt of kind "shell_attach") to stop reading the terminal itself. The
// answer says where keystrokes come from: "relay" (OTP <= 25, whose stdin
// port reads eagerly: the plugin forwards what it reads as {session, input}
// requests of this same op) or anything else (the op reads the terminal).
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Engine } from '../../engine/connect.js';
import { type OpContext, type OpHandler } from '../../protocol/op-context.js';
import { OpError } from '../../errors.js';
import { BuildLog, tailFile } from '../output/build-log.js';
import { readOrCreateDockerId, volumeName } from '../job/docker-id.js';
import { acquireLock } from '../job/lock.js';
import { openJobContainer, type OpenJob } from '../job/container.js';
import { jobSteps } from '../job/plan.js';
import { JobScope } from '../job/scope.js';
import { chooseInputs, fallBackToCopy, InputsNotVisible, type InputsContext, type InputTransport } from '../job/inputs/index.js';
import { checkHostInputs, connectChecked } from '../job/preflight.js';
import { Reporter } from '../output/reporter.js';
import { bringBackChanges } from './bring-back.js';
import { installRcFile, RC_PATH, runAttached, runCaptured, runPlain, terminalInput, type InputSource } from './exec.js';
import { DEFAULT_TTY, Terminal } from './tty.js';
import { chooseTerm } from './term.js';
import { envFlag } from '../../engine/discovery.js';
import { parseJobSpec, type JobSpec } from '../spec.js';

export const TITLE = '\x1b]0;Nerves Shell\x07';
export const HINT = '\r\nUse \x1b[33mctrl+d\x1b[0m or \x1b[33mexit\x1b[0m to leave the container shell\r\n\r\n';
export const ATTACH_PROMPT_KIND = 'shell_attach';

export interface ShellOptions {
  /** A one-off command instead of the interactive shell. */
  cmd: string[] | null;
  tty_path: string;
  /** Names this shell for relayed input (chosen by the plugin). */
  session: string | null;
}

export interface ShellResult {
  status: number;
}

export function parseShellOptions(input: unknown): ShellOptions {
  const raw = (input ?? {}) as Record<string, unknown>;
  const cmd = raw.cmd ?? null;
  if (cmd !== null && (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((a) => typeof a !== 'string' || a.includes('\0')))) {
    throw new OpError('invalid_spec', 'invalid shell request: cmd must be a non-empty list of strings');
  }
  const ttyPath = raw.tty_path ?? DEFAULT_TTY;
  if (typeof ttyPath !== 'string' || !ttyPath.startsWith('/'))
    throw new OpError('invalid_spec', 'invalid shell request: tty_path must be an absolute path');
  const session = raw.session ?? null;
  if (session !== null && typeof session !== 'string') throw new OpError('invalid_spec', 'invalid shell request: session must be a string');
  return { cmd: cmd as string[] | null, tty_path: ttyPath, session };
}

// Relayed input: session -> where its bytes go (queued until the attach starts;
// the plugin relays from the request's start, so keys typed while the build
// dir is prepared reach the shell).
class Relay implements InputSource {
  private queue: Buffer[] = [];
  private feed: ((data: Buffer) => void) | null = null;
  push(data: Buffer): void {
    if (this.feed) this.feed(data);
    else this.queue.push(data);
  }
  start(feed: (data: Buffer) => void): () => void {
    this.feed = feed;
    for (const d of this.queue.splice(0)) feed(d);
    return () => {
      this.feed = null;
    };
  }
}
const relays = new Map<string, Relay>();

/** The relay of a shell session, open from the request's start: the plugin relays keys typed while the shell is prepared. */
function openRelay(session: string | null): { relay: Relay | null; close: () => void } {
  if (!session) return { relay: null, close: () => {} };
  const relay = new Relay();
  relays.set(session, relay);
  return { relay, close: () => relays.get(session) === relay && relays.delete(session) };
}

function isInput(args: unknown): args is { session: string; input: unknown } {
  return typeof args === 'object' && args !== null && 'input' in args && 'session' in args && !('app' in args);
}

function deliverInput(args: { session: unknown; input: unknown }): null {
  const relay = typeof args.session === 'string' ? relays.get(args.session) : undefined;
  if (!relay) throw new OpError('no_session', 'no shell is waiting for input under that session');
  const data = Buffer.isBuffer(args.input) ? args.input : typeof args.input === 'string' ? Buffer.from(args.input) : null;
  if (!data) throw new OpError('bad_request', 'shell input must be bytes');
  relay.push(data);
  return null;
}

export const shellOp: OpHandler = async (args, ctx) => {
  if (isInput(args)) return deliverInput(args);
  return runShell(parseJobSpec(args), parseShellOptions(args), ctx);
};

/** Waits (briefly) until the engine has removed the container: an auto-removal may still be under way. */
async function waitGone(engine: Engine, id: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const gone = await engine.docker
      .getContainer(id)
      .inspect()
      .then(
        () => false,
        () => true,
      );
    if (gone) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runShell(spec: JobSpec, opts: ShellOptions, ctx: OpContext): Promise<ShellResult> {
  // Before any await: relayed keys may follow this request at once.
  const relayed = openRelay(opts.session);
  // The terminal first: without one there is nothing to attach to (a one-off command can do without).
  let terminal: Terminal | null = null;
  try {
    terminal = Terminal.open(opts.tty_path);
  } catch (err) {
    if (!opts.cmd) throw err;
  }
  // What the shell opens, let go however it ends: the terminal's mode, shell.log, the container.
  const scope = new JobScope(ctx);
  if (terminal) scope.hold({ label: 'terminal mode', close: () => terminal?.close() });
  try {
    const shell = await openShell(spec, ctx, scope);
    await prepareBuildDir(spec, shell, ctx);
    let status: number;
    if (!terminal) {
      // One-off command, no terminal: its output comes back as log events.
      const cmd = [...shell.image.entrypoint, ...opts.cmd!];
      status = await runPlain(shell.job.container, { workingDir: shell.layout.workingDir, cmd }, (stream, data) =>
        ctx.emit('log', { stream, data }),
      );
    } else {
      status = await attachTerminal(spec, shell, opts, terminal, ctx, relayed.relay);
    }
    // Copied inputs: what the shell changed in the package comes back before the container goes.
    if (shell.inputs.name === 'copy')
      await bringBackChanges({ container: shell.job.container, spec, volume: shell.volume, reporter: shell.reporter, signal: ctx.signal });
    return { status };
  } catch (err) {
    if (ctx.signal.aborted && !(err instanceof OpError && err.code === 'interrupted')) {
      throw new OpError('interrupted', 'The Nerves shell was interrupted; its container was removed.');
    }
    throw err;
  } finally {
    relayed.close();
    terminal?.close(); // the user's terminal back at once; the container goes after
    await scope.close();
  }
}

interface OpenShell extends OpenJob {
  log: BuildLog;
  reporter: Reporter;
  /** How the inputs reached the container (copy: the package's changes are brought back at the end). */
  inputs: InputTransport;
  /** The build volume. */
  volume: string;
}

/** The build container of the spec, with shell.log; both held by `scope`. */
async function openShell(spec: JobSpec, ctx: OpContext, scope: JobScope): Promise<OpenShell> {
  const reporter = new Reporter(ctx, false);
  await checkHostInputs(spec, 'shell');
  const engine = (await connectChecked()).engine;
  const volume = volumeName(spec.app, await readOrCreateDockerId(spec.build_path, (t) => reporter.warn(t)));
  // The package's lock, as a build takes it: a build or clean meanwhile would
  // remove this shell's container (theirs to clean up when no live job holds
  // the lock) and change the build directory under it. Let go last.
  const lock = await acquireLock(spec.build_path, 'shell', (t) => reporter.warn(t));
  scope.hold({ label: 'build lock', close: () => lock.release() });
  const log = await BuildLog.create(join(spec.log_dir, 'shell.log'), () => {});
  scope.hold({ label: 'shell.log', close: () => log.close() });
  // Held before the container, so let go after it: the shell returns once the engine removed it.
  let containerId: string | null = null;
  scope.hold({ label: 'shell container removal', close: () => (containerId ? waitGone(engine, containerId) : undefined) });
  const base: InputsContext = { spec, engine, volume, reporter, scope, op: ctx, stage: 'prepare' };
  let used: InputTransport | null = null;
  const openWith = (inputs: InputTransport) => {
    used = inputs;
    return openJobContainer('shell', spec, { engine, reporter, log, ctx, scope, volume, inputs });
  };
  const open = await openWith(await chooseInputs(base)).catch(async (err) => {
    if (!(err instanceof InputsNotVisible)) throw err;
    return openWith(await fallBackToCopy(base, err));
  });
  containerId = open.job.id;
  return { ...open, log, reporter, inputs: used!, volume };
}

/** The build dir as a build leaves it: the chown (old images) and create-build.sh, each in a TTY exec. */
async function prepareBuildDir(spec: JobSpec, shell: OpenShell, ctx: OpContext): Promise<void> {
  const { job, image, layout, log, reporter } = shell;
  reporter.header('Preparing Nerves Shell');
  reporter.info('Updating build directory.');
  reporter.info('This will take a while if it is the first time...');
  for (const step of jobSteps('build', spec, layout, image.entrypoint).filter((s) => s.name === 'chown' || s.name === 'create-build')) {
    const sink = log.sink();
    let status: number;
    try {
      status = await runCaptured(job.container, { cmd: step.cmd, env: step.env, workingDir: layout.workingDir }, sink);
    } finally {
      sink.end();
    }
    await finished(sink); // all of it in shell.log, or the log's failure (OpError log_file)
    ctx.signal.throwIfAborted();
    if (status !== 0) {
      const tail = await tailFile(log.path, 16).catch(() => '');
      throw new OpError(
        'step_failed',
        `The Nerves shell could not prepare the build directory:\n\n-----\n${tail}\n-----\n\nStep "${step.name}" exited with status ${status}.`,
        `See ${log.path}.`,
      );
    }
  }
}

/** The interactive bash (or the command) on the user's terminal; returns its exit status. */
async function attachTerminal(
  spec: JobSpec,
  shell: OpenShell,
  opts: ShellOptions,
  terminal: Terminal,
  ctx: OpContext,
  relay: Relay | null,
): Promise<number> {
  const { job, image, layout } = shell;
  if (!opts.cmd) await installRcFile(job.container);
  const term = await chooseTerm(job.container, spec.term, layout.workingDir, image.entrypoint);
  if (term.note && envFlag(process.env.NERVES_DEBUG)) shell.reporter.info(`nerves_docker_ts: ${term.note}`);
  // The barrier: every event before this is shown, and the plugin stops reading the terminal.
  const answer = await (ctx.prompt as (message: string, kind: string) => Promise<unknown>)('attach the terminal', ATTACH_PROMPT_KIND);
  // Relayed keys (typed since the request began, queued) or the terminal read here.
  const input: InputSource = answer === 'relay' && relay ? relay : terminalInput(terminal);
  if (!opts.cmd) terminal.write(TITLE + HINT);
  const cmd = [...image.entrypoint, ...(opts.cmd ?? ['/bin/bash', '--rcfile', RC_PATH, '-i'])];
  return runAttached(job.container, { workingDir: layout.workingDir, cmd, env: [`TERM=${term.term}`] }, terminal, input, ctx.signal);
}

// What the CLI's commands share: an OpContext for the command line (events
// to stderr as lines, or every event as one JSON line on stdout with --json;
// prompts on the terminal, or yes by --yes or NERVES_DOCKER_TS_YES; Ctrl-C as
// cancellation), the exit codes (from errors.ts), and reading a job spec file.
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { CleanupRegistry } from '../protocol/cleanup.js';
import type { OpContext } from '../protocol/op-context.js';
import { jsonFault, OpError, usageError } from '../errors.js';

export interface CliContextOptions {
  json: boolean;
  /** The command's --yes. NERVES_DOCKER_TS_YES answers yes too, as it does under Mix. */
  yes: boolean;
  /** Whether the command has a --yes flag: the hint of a prompt no terminal can answer names only what the command takes. */
  yesFlag: boolean;
}

/** NERVES_DOCKER_TS_YES as the Mix plugin reads it (1, true or yes): every "create the image?" answered yes. */
export function yesFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['1', 'true', 'yes'].includes(env.NERVES_DOCKER_TS_YES ?? '');
}

// The exit codes are derived from the error code's family in errors.ts.
export { EXIT, exitCodeFor } from '../errors.js';

const SPEC_HINT = 'Print the job spec of a system with `mix nerves_docker_ts.spec > spec.json` in its directory.';

/** Reads a JSON job spec; errors say which file and why. */
export async function readSpecFile(path: string | null | undefined): Promise<Record<string, unknown>> {
  if (!path) throw usageError('a job spec is needed: --spec FILE.json', 'Print one with `mix nerves_docker_ts.spec > spec.json`.');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new OpError('invalid_spec', `cannot read the spec ${path}: ${(err as Error).message}`, SPEC_HINT);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new OpError('invalid_spec', `the spec ${path} is not JSON (${jsonFault(err, text)})`, SPEC_HINT);
  }
  // The commands add their flags to it (make_args, tty...): anything else than an object would fail there, not here.
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const what = value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`;
    throw new OpError('invalid_spec', `the spec ${path} is not a JSON object (it holds ${what})`, SPEC_HINT);
  }
  return value as Record<string, unknown>;
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return value;
}

export function jsonLine(value: unknown): string {
  return JSON.stringify(value, jsonSafe) + '\n';
}

export function cliContext(opts: CliContextOptions): OpContext & { controller: AbortController; dispose(): void; endLine(): void } {
  const controller = new AbortController();
  const view = new StderrView(process.stderr.isTTY === true);
  const endLine = () => view.endLine();
  const onSignal = (sig: NodeJS.Signals) => {
    endLine();
    controller.abort(new OpError('interrupted', `interrupted (${sig})`));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  return {
    id: 0,
    signal: controller.signal,
    cleanup: new CleanupRegistry(),
    controller,
    endLine,
    dispose: () => {
      for (const s of signals) process.off(s, onSignal);
    },
    debug: (line) => {
      if (process.env.NERVES_DEBUG === '1') process.stderr.write(`${line}\n`);
    },
    emit: (event, data) => {
      if (opts.json) process.stdout.write(jsonLine({ event, data }));
      else view.show(event, data);
    },
    prompt: ((message: string, kind?: string) =>
      askOnTerminal(message, kind, opts, view, controller.signal, () => onSignal('SIGINT'))) as OpContext['prompt'],
  };
}

/**
 * What the CLI shows on stderr: lines, and one status line that the next line
 * replaces (a terminal), or keep-alive dots that the next line starts after
 * (no terminal: a line-based reader sees each line whole, as under Mix).
 */
class StderrView {
  private statusShown = false;
  private dotsShown = false;

  constructor(private readonly tty: boolean) {}

  clear(): void {
    if (this.statusShown) process.stderr.write('\r\x1b[K');
    this.statusShown = false;
    this.endDots();
  }

  /** A status line left open ends here, so that the ^C the terminal echoes and the error after it do not run into it. */
  endLine(): void {
    if (this.statusShown) process.stderr.write('\n');
    this.statusShown = false;
    this.endDots();
  }

  private endDots(): void {
    if (this.dotsShown) process.stderr.write('\n');
    this.dotsShown = false;
  }

  show(event: string, data: unknown): void {
    switch (event) {
      case 'log': {
        // A one-off command's own output (nerves-docker shell -- CMD without a terminal).
        const { stream, data: bytes } = data as { stream: 'stdout' | 'stderr'; data: Buffer };
        this.endDots();
        (stream === 'stderr' ? process.stderr : process.stdout).write(bytes);
        break;
      }
      case 'header':
        this.line(this.tty ? `\x1b[7m|nerves-docker| ${String(data)}\x1b[0m` : `|nerves-docker| ${String(data)}`);
        break;
      case 'headline':
      case 'info':
        this.line(String(data));
        break;
      case 'warn':
        this.line(`warning: ${String(data)}`);
        break;
      case 'status':
      case 'progress': {
        if (!this.tty) break;
        const text = typeof data === 'string' ? data : String((data as { text?: unknown })?.text ?? '');
        process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns ?? 80) - 1)}`);
        this.statusShown = true;
        break;
      }
      case 'dot':
        process.stderr.write('.');
        this.dotsShown = true;
        break;
      default:
        break;
    }
  }

  private line(text: string): void {
    this.clear();
    process.stderr.write(`${text}\n`);
  }
}

/**
 * A prompt of the runner, answered on the terminal (or by --yes). Readline
 * reads the terminal raw, so a Ctrl-C at the question is a key, not a
 * SIGINT: `onCtrlC` interrupts the command as the signal would, and an
 * interrupt (that one, SIGTERM, SIGHUP) ends the question with it.
 */
async function askOnTerminal(
  message: string,
  kind: string | undefined,
  opts: CliContextOptions,
  view: StderrView,
  signal: AbortSignal,
  onCtrlC: () => void,
): Promise<unknown> {
  // The shell's attach barrier: in this process the sidecar reads the terminal itself.
  if (kind === 'shell_attach') return 'tty';
  if (opts.yes || yesFromEnv()) return true;
  if (!process.stdin.isTTY) {
    view.clear();
    const how = opts.yesFlag ? 'pass --yes (or set NERVES_DOCKER_TS_YES=1)' : 'set NERVES_DOCKER_TS_YES=1';
    process.stderr.write(`${message}\nno terminal to answer on: ${how} to answer yes\n`);
    return false;
  }
  view.clear();
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  rl.on('SIGINT', onCtrlC);
  try {
    const answer = await rl.question(message + '[Yn] ', { signal });
    return /^\s*(y|yes|)\s*$/i.test(answer);
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw err;
  } finally {
    rl.close();
  }
}

// Steps as the build container's own work (no exec: each costs the engine
// 50-100 ms). PID 1 is the keeper with a POSIX sh driver in the background;
// the driver runs the steps one after another, each with its output on a
// FIFO of its own, and reports on a control FIFO; the runner reads each
// step's FIFO to EOF before the next, so the log keeps step order.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { KEEPER_LOOP, KEEPER_TRAP } from '../../../engine/containers.js';
import { OpError } from '../../../errors.js';
import { STEP_EXEC, STEP_REFS, stepArgs, type DriverStep } from './driver-args.js';
import { closeWriteEnd, EXEC_HINT, FifoReader, LINGER_MS, openFifo, TOKEN_TIMEOUT_MS } from '../../output/fifo-reader.js';

export interface PreparedSequence {
  /** The build container's entrypoint: the keeper, with the steps' driver in the background. */
  entrypoint: string[];
  /**
   * Follows the steps once the container runs: output reaches the hooks'
   * sinks step by step, in order. Returns the steps that ran with their
   * status (the last one is the failure, if any); fewer than asked when the
   * container (`containerEnded`) or the driver ended early.
   */
  run(hooks: SequenceHooks, containerEnded: Promise<unknown>): Promise<SequenceStepResult[]>;
  /** Closes every FIFO end this side holds (after run, or when the container never started). */
  dispose(): void;
}

/** Where a sequence takes its FIFOs from (fifo-output.ts): each in the container and on this host. */
export interface FifoSource {
  takeFifos(count: number): Promise<Array<{ inContainer: string; onHost: string }>>;
}

export type SequenceStep = DriverStep;

export interface SequenceStepResult {
  status: number;
  seconds: number;
}

export interface SequenceHooks {
  /** Step `index` is about to run (its output is next in the log): the sink for its output. */
  start(index: number): Writable;
  /** Step `index` is done and another follows: end its sink and wait until it is written. */
  end(index: number): Promise<void>;
  warn(text: string): void;
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
export async function prepareSequence(fifo: FifoSource, steps: SequenceStep[]): Promise<PreparedSequence> {
  const args = steps.map(stepArgs);
  const fifos = await fifo.takeFifos(steps.length + 1);
  const ctlFifo = fifos.pop()!;
  const tokens = steps.map(() => `NDT${randomBytes(8).toString('hex')}`);
  const argv: string[] = [ctlFifo.inContainer];
  for (const [i, a] of args.entries()) argv.push(fifos[i]!.inContainer, tokens[i]!, ...a);
  // Not flowing until its turn: a later step's output waits in its FIFO.
  const opened: Array<{ wfd: number | null; reader: FifoReader }> = [];
  let ctl: { wfd: number | null; sock: Socket } | null = null;
  const dispose = () => {
    for (const o of [...opened, ...(ctl ? [ctl] : [])]) closeWriteEnd(o);
    for (const o of opened) o.reader.destroy();
    ctl?.sock.destroy();
  };
  try {
    fifos.forEach((f, i) => {
      const { wfd, sock } = openFifo(f.onHost);
      opened.push({ wfd, reader: new FifoReader(sock, Buffer.from(tokens[i]!)) });
    });
    ctl = openFifo(ctlFifo.onHost);
  } catch (err) {
    dispose(); // out of file descriptors, say: close what was opened
    throw err;
  }
  const control = ctl;
  return {
    entrypoint: [...KEEPER_WITH_DRIVER, ...argv],
    run: (hooks, containerEnded) => runPrepared(steps, opened, control, hooks, containerEnded),
    dispose,
  };
}

/** Reads a prepared sequence's control FIFO and its steps' FIFOs, step by step (see prepareSequence). */
async function runPrepared(
  steps: SequenceStep[],
  opened: Array<{ wfd: number | null; reader: FifoReader }>,
  ctl: { wfd: number | null; sock: Socket },
  hooks: SequenceHooks,
  containerEnded: Promise<unknown>,
): Promise<SequenceStepResult[]> {
  const ended = new Map<number, number>();
  let notify: (() => void) | null = null;
  let sink: Writable | null = null;
  const strays: Buffer[] = [];
  let driverDone = false;
  let started = false;
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
    () => {
      started = true;
      closeWriteEnd(ctl);
    },
  );
  ctl.sock.on('data', (chunk: Buffer) => control.push(chunk));
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
      // A sink that fails (build.log cannot be written) ends the run at once: the step's output has nowhere to go.
      await Promise.race([new Promise<void>((r) => (notify = r)), tokenTimer, reader.sinkFailed]);
      notify = null;
    }
    closeWriteEnd(opened[i]!);
    const eof = await reader.drained(LINGER_MS);
    if (!started) {
      throw new OpError(
        'step_output',
        "The build container ended before it could open the runner's control FIFO (a bind mount it may not use, or it was stopped at once).",
        EXEC_HINT,
      );
    }
    if (!ended.has(i)) break; // the driver or the container ended without finishing this step
    if (!reader.sawToken) {
      throw new OpError(
        'step_output',
        `The step "${steps[i]!.cmd.join(' ')}" could not write into the runner's output FIFO (it exited with status ${ended.get(i)}).`,
        EXEC_HINT,
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
  return results;
}

/**
 * PID 1 of a sequence's container: the keeper of engine/containers.ts
 * (reads stdin until the sidecar's attach closes, then exits, which ends
 * every process in the container; SIGTERM ends it at once) with the driver
 * in the background.
 * Arguments: the control FIFO, then per step its FIFO, its token, the
 * count of its NAME=value pairs, its argc, the pairs and its argv. Only
 * "${k}" references are ever eval'd, never argument text.
 */
const KEEPER_WITH_DRIVER = [
  '/bin/sh',
  '-c',
  [
    KEEPER_TRAP,
    'ctl=$1',
    'shift',
    // No control FIFO, no build: the container ends at once, and the runner says why.
    'exec 3>"$ctl" || exit 97',
    '(',
    '  exec >&3 2>&1 3>&- </dev/null',
    "  printf 'NDT-START\\n'",
    '  i=0',
    '  while [ "$#" -gt 0 ]; do',
    '    f=$1 t=$2 e=$3 n=$4',
    '    shift 4',
    ...STEP_REFS.map((l) => `    ${l}`),
    `    (eval "set -- $refs"; exec >"$f" 2>&1; printf %s "$t"; ${STEP_EXEC})`,
    '    s=$?',
    `    printf 'NDT-STEP %s %s\\n' "$i" "$s"`,
    '    [ "$s" -eq 0 ] || exit "$s"',
    '    shift $((e + n))',
    '    i=$((i + 1))',
    '  done',
    ') &',
    // Only the driver holds the control FIFO: its EOF is the driver's end.
    'exec 3>&-',
    KEEPER_LOOP,
  ].join('\n'),
  'ndt-keeper',
];

/** The driver's control FIFO: its NDT-START and NDT-STEP lines are reported, anything else (shell errors) goes to the log. */
class ControlLines {
  private partial = '';

  constructor(
    private readonly log: (line: Buffer) => void,
    private readonly onStep: (index: number, status: number) => void,
    private readonly onStart: () => void,
  ) {}

  push(chunk: Buffer): void {
    const lines = (this.partial + chunk.toString('latin1')).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.line(line);
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

// Steps through the engine's exec stream: works with every engine (remote,
// in a VM, rootless). The whole plan runs in ONE exec (exec-driver.ts: an
// exec costs the engine 50-100 ms, more over ssh), its output cut into the
// steps' sinks at the driver's end markers (step-splitter.ts). With copied
// inputs, the driver first checks what the transport trusted without
// reading it (InputsGate); if a check fails, the transport does what it
// skipped and the driver runs again.
import type { ChunkSink } from '../../../chunk-sink.js';
import { ExecStreamLost, runExec } from '../../../engine/exec.js';
import { OpError } from '../../../errors.js';
import type { OpenJob } from '../container.js';
import type { Step, StepResult } from '../context.js';
import type { InputsGate } from '../inputs/transport.js';
import { driverToken, execDriverArgv, type DriverCarry, type DriverCheck } from './exec-driver.js';
import type { OutputChoice } from './output-mode.js';
import type { CarriedFile, StepRunner } from './runner.js';
import type { StepLog } from './step-log.js';
import { StepSplitter } from './step-splitter.js';

/** Artifacts up to this size come back in the driver's stream; bigger ones through the archive API, which is faster for them. */
export const CARRY_MAX = 16 << 20;

export function execStepRunner(choice: OutputChoice, gate?: InputsGate): StepRunner {
  let carry: DriverCarry | null = null;
  let carried: CarriedFile | null = null;
  const drive = (plan: Step[], open: OpenJob, out: StepLog, first: ChunkSink, checks: DriverCheck[], signal: AbortSignal) =>
    runDriver({ plan, open, out, first, checks, carry, signal }, (file) => (carried = file));
  return {
    choice,
    mounts: [],
    dropDir: null,
    prepare: async () => undefined, // the plain keeper
    async run(plan, open, out, signal) {
      const first = out.begin(plan[0]!);
      const r = await drive(plan, open, out, first, gate?.checks() ?? [], signal);
      if (r !== 'stale') return r;
      await gate!.recover(open.job.container);
      const again = await drive(plan, open, out, first, [], signal);
      if (again === 'stale') throw new Error('the step driver reported failed checks when it was given none');
      return again;
    },
    dispose: () => {},
    carry: (path) => (carry = { path, max: CARRY_MAX }),
    takeCarried() {
      const file = carried;
      carried = null;
      return file;
    },
  };
}

interface DriverRun {
  plan: Step[];
  open: OpenJob;
  out: StepLog;
  /** The first step's sink, begun already. */
  first: ChunkSink;
  checks: DriverCheck[];
  carry: DriverCarry | null;
  /** The job's interrupt: the exec's stream is let go at once. */
  signal: AbortSignal;
}

/** One run of the driver: the steps' results, or 'stale' when its checks failed (no step ran; `first` stays open). */
async function runDriver(run: DriverRun, onFile: (file: CarriedFile) => void): Promise<StepResult[] | 'stale'> {
  const { plan, open, out, first } = run;
  const results: StepResult[] = [];
  const token = driverToken();
  let stale = false;
  let t0 = Date.now();
  let sink = first;
  const splitter = new StepSplitter(
    token,
    sink,
    async (index, status) => {
      if (index === -1) {
        stale = true;
        return sink;
      }
      const i = results.length;
      if (index !== i) throw new Error(`the step driver reported step ${index} while step ${i} ran`);
      results.push({ name: plan[i]!.name, seconds: (Date.now() - t0) / 1000, status });
      // Nothing follows a failure or the last step: anything still written belongs to it.
      if (status !== 0 || i + 1 >= plan.length) return sink;
      await out.end();
      t0 = Date.now();
      sink = out.begin(plan[i + 1]!);
      return sink;
    },
    (data, sha256) => onFile({ data, sha256 }),
  );
  const argv = execDriverArgv(token, plan, run.checks, run.carry);
  // The driver got to its end: its checks failed, a step failed, or every step ran.
  const finished = () => stale || results.length === plan.length || results.some((r) => r.status !== 0);
  const spec = { cmd: argv, workingDir: open.layout.workingDir };
  const exit = await runExec(open.job.container, spec, splitter, {
    complete: () => !splitter.started || finished(),
    signal: run.signal,
  }).catch(async (err: unknown) => {
    if (!(err instanceof ExecStreamLost)) throw err;
    // A container that no longer runs (stopped, removed, its engine going away) ended the stream: told as the step's end.
    const running = await open.job.container.inspect().then(
      (i) => i.State.Running,
      () => false,
    );
    if (!running) return err.status ?? 137;
    const step = plan[results.length]?.name ?? plan[plan.length - 1]!.name;
    throw new OpError(
      'step_driver_lost',
      `The connection to the engine dropped during the "${step}" step: the stream of the steps' output ended before the step did (${err.engineSaid}). The step did not fail by itself; it is stopped with the build container.`,
      'Rerun the build; the build volume is kept, so it resumes. If the engine is on another machine, check that the connection to it (ssh, VPN, network) stays up during the build.',
    );
  });
  await splitter.finish();
  if (stale && results.length === 0) return 'stale';
  const i = results.length;
  if (i < plan.length && (results[i - 1]?.status ?? 0) === 0) {
    // The driver ended inside step i (killed, out of memory, the container stopped): its status is the step's.
    if (exit === 0) {
      throw new OpError(
        'step_driver_lost',
        `The runner lost track of the "${plan[i]!.name}" step: the exec that runs the steps ended without saying how it went.`,
        'Rerun the build; the build volume is kept, so it resumes.',
      );
    }
    results.push({ name: plan[i]!.name, seconds: (Date.now() - t0) / 1000, status: exit });
  }
  return results;
}

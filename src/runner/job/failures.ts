// How a job that went wrong is told to the user: a failed step with the tail
// of build.log, a step whose container ran out of memory, a container that
// went away, an engine that stopped answering, an interrupt, a build.log
// that could not be written; each with what to do next.
import { engineAnswers } from '../../engine/connect.js';
import { engineMessage } from '../../engine/errors.js';
import { oomKilled } from '../../engine/oom.js';
import { OpError } from '../../errors.js';
import { tailFile, type BuildLog } from '../output/build-log.js';
import type { OpenJob } from './container.js';
import type { Job, JobKind, StepResult } from './context.js';
import { formatMemory, MEMORY_ENV } from './limits.js';

export function interrupted(kind: JobKind, volume: string): OpError {
  return new OpError(
    'interrupted',
    `The ${kind} was interrupted; its container was removed and the build volume ${volume} was kept, so the next build resumes.`,
  );
}

/**
 * A step that exited non-zero, told as what it was: its container went
 * away, the OOM killer struck in it (whether it killed the step's own
 * process, status 137, or one below it, such as a compiler under make), or
 * the step failed.
 */
export async function failedStep(job: Job, open: Pick<OpenJob, 'job' | 'limits'>, step: StepResult): Promise<never> {
  const id = open.job.id;
  const killed = step.status >= 128;
  // A step killed by a signal is often the container being stopped: give the engine a moment to say so.
  const gone = await containerGone(job, id, step.name, killed ? 3000 : 0).then(
    () => null,
    (err: unknown) => err,
  );
  if (await oomKilled(job.engine, id, killed)) await outOfMemory(step, open.limits.memory, job.log);
  if (gone) throw gone;
  return failStep(step.name, step.status, job.log);
}

async function outOfMemory(step: StepResult, limit: number | null, log: BuildLog): Promise<never> {
  const how = step.status === 137 ? 'was killed' : `exited with status ${step.status} after the kernel killed a process in it`;
  const why =
    limit !== null
      ? `the build container ran out of memory (limit ${formatMemory(limit)})`
      : 'the engine host ran out of memory (no memory limit set)';
  throw new OpError(
    'step_out_of_memory',
    `${await logTail(log)}The "${step.name}" step ${how}: ${why}.`,
    limit !== null
      ? `Raise build_runner_opts memory (or ${MEMORY_ENV}), lower PARALLEL_JOBS, or free memory on the engine host. See ${log.path}.`
      : `Lower PARALLEL_JOBS (build_runner_opts make_args: ["PARALLEL_JOBS=2"]), or free or add memory on the engine host (Docker Desktop: Settings > Resources). See ${log.path}.`,
  );
}

async function logTail(log: BuildLog): Promise<string> {
  const tail = await tailFile(log.path, 16).catch(() => '');
  return `The Nerves Docker build_runner encountered an error while building:\n\n-----\n${tail}\n-----\n\n`;
}

/** A step that exited non-zero: the last lines of the log, the step and its status. */
export async function failStep(name: string, status: number, log: BuildLog): Promise<never> {
  throw new OpError('step_failed', `${await logTail(log)}Step "${name}" exited with status ${status}.`, `See ${log.path}.`);
}

/**
 * A step that failed because its container went away (the engine stopped,
 * or someone removed it) is reported as that, not as a build failure;
 * `waitMs`: how long a container that still runs may take to stop.
 */
export async function containerGone(job: Job, id: string, step: string, waitMs = 0): Promise<void> {
  const { engine, kind, volume } = job;
  const isRunning = () =>
    engine.docker
      .getContainer(id)
      .inspect()
      .then(
        (i) => i.State.Running,
        () => false,
      );
  // An engine that is shutting down still answers for a moment, with the container still "running".
  const deadline = Date.now() + waitMs;
  let running = await isRunning();
  while (running && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    running = await isRunning();
  }
  if (running) return;
  const engineUp = await engineAnswers(engine);
  throw new OpError(
    engineUp ? 'container_stopped' : 'engine_lost',
    engineUp
      ? `The build container stopped during the "${step}" step (stopped or removed outside the runner).`
      : `The Docker engine at ${engine.where} stopped answering during the "${step}" step.`,
    engineUp ? `Rerun the ${kind}; the build volume ${volume} is kept, so it resumes.` : lostEngineHint(job),
  );
}

/**
 * What to do when the engine stopped answering: start it again; one reached
 * over a network (tcp, ssh) may be up with the link to it gone, which from
 * here looks the same.
 */
function lostEngineHint({ engine, kind, volume }: Job): string {
  const resumes = `rerun the ${kind}; the build volume ${volume} is kept, so it resumes.`;
  return engine.endpoint.kind === 'tcp' || engine.endpoint.kind === 'ssh'
    ? `Check that the engine at ${engine.where} runs and that this machine still reaches it (network, VPN, ssh), then ${resumes}`
    : `Start the engine again and ${resumes}`;
}

/**
 * What to throw for an error that ended the job: an interrupt, build.log's
 * failure (what else went wrong may follow from it: a step that could not
 * write its output, a log tail cut short), a lost engine, or the error itself.
 */
export async function explainFailure(job: Job, err: unknown): Promise<unknown> {
  const { engine, kind, volume } = job;
  if (job.op.signal.aborted && !(err instanceof OpError && err.code === 'interrupted')) return interrupted(kind, volume);
  if (job.log.failure) return job.log.failure;
  // A raw error from the engine connection: say whether the engine went away.
  if (!(err instanceof OpError) && !(await engineAnswers(engine))) {
    return new OpError(
      'engine_lost',
      `The Docker engine at ${engine.where} stopped answering during the "${job.stage}" step: ${engineMessage(err)}`,
      lostEngineHint(job),
    );
  }
  return err;
}

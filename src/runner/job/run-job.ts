// A build or archive job, as its stages: open (checks, lock, build.log),
// choose how steps run (FIFO or exec) and how inputs and the artifact
// travel, open the container, run the steps, bring the artifact back. One
// scope holds what the stages open and lets it go however the job ends.
import { join } from 'node:path';
import { inspectImage } from '../../engine/images.js';
import { volumeExists } from '../../engine/volumes.js';
import { OpError } from '../../errors.js';
import type { OpContext } from '../../protocol/op-context.js';
import { formatBytes, formatDuration } from '../output/reporter.js';
import type { JobSpec } from '../spec.js';
import type { ArtifactRoute } from './artifact/index.js';
import { removeStalePartials } from './artifact/write-atomically.js';
import { removeLeftovers, type OpenJob } from './container.js';
import { removeStaleTokens } from './inputs/bind.js';
import type { Job, JobKind, JobResult, Step, StepResult } from './context.js';
import { explainFailure, failedStep, interrupted } from './failures.js';
import { openJob } from './open.js';
import { openBuildContainer } from './placement.js';
import { JobScope } from './scope.js';
import { removeStaleFifoDirs } from './steps/fifo-output.js';
import type { PendingStepRunner, StepRunner } from './steps/index.js';
import { StepLog } from './steps/step-log.js';

export type { JobKind, JobResult, StepResult } from './context.js';

export async function runJob(kind: JobKind, spec: JobSpec, op: OpContext): Promise<JobResult> {
  const scope = new JobScope(op);
  try {
    const { job, steps } = await openJob(kind, spec, op, scope);
    let result: Omit<JobResult, 'log_size'>;
    try {
      result = await runStages(job, steps);
    } catch (err) {
      throw await explainFailure(job, err);
    }
    await scope.close(); // build.log complete and closed before the reply says its size
    job.log.throwIfFailed(); // and all of it written: the scope only notes a close that failed
    return { ...result, log_size: job.log.size };
  } finally {
    await scope.close();
  }
}

async function runStages(job: Job, pending: PendingStepRunner): Promise<Omit<JobResult, 'log_size'>> {
  if (job.kind === 'archive') await requireBuilt(job);
  const image = inspectImage(job.engine, job.spec.docker.tag); // looked up while the rest is chosen
  image.catch(() => {});
  const p = await openBuildContainer(job, image, await chooseStepRunner(job, pending));
  const steps = await runSteps(job, p.runner, p.open, p.plan);
  const dest = join(job.spec.download_dir, p.artifact.file);
  const size = await bringArtifact(job, p.route, p.open, dest, steps);
  return summary(job, {
    path: dest,
    size,
    steps,
    legacy: p.layout.legacy,
    container: p.open.job.id,
    output: p.runner.choice.mode,
    inputs: p.inputs.name,
  });
}

/**
 * An archive runs `make system` in the build volume that a build left; with
 * no such volume (never built, or cleaned) there is nothing to archive, and
 * the job would only create an empty volume and fail in make ("No rule to
 * make target 'system'"). Asked with the package's lock held, so no build of
 * it is creating the volume meanwhile.
 */
async function requireBuilt(job: Job): Promise<void> {
  if (await volumeExists(job.engine, job.volume)) return;
  throw new OpError(
    'artifact_missing',
    `nothing has been built for ${job.spec.app} yet: its build volume ${job.volume} does not exist (never built, or cleaned since)`,
    "Build it first (`mix compile` in the system's directory, or `nerves-docker build --spec FILE`), then archive it.",
  );
}

/** The step runner, chosen while what a dead job left goes: its containers, FIFO directories, partial artifacts, visibility tokens. */
async function chooseStepRunner(job: Job, pending: PendingStepRunner): Promise<StepRunner> {
  const [left, chosen] = await Promise.allSettled([
    removeLeftovers(job.engine, job.volume, job.reporter),
    pending.choose(job),
    removeStaleFifoDirs(job.spec.build_path),
    removeStalePartials(join(job.spec.download_dir, `${job.spec.download_name}${job.spec.ext}`)),
    removeStaleTokens(job.spec, job.started),
  ]);
  if (chosen.status === 'rejected') throw chosen.reason; // the engine's version first
  job.scope.hold({ label: 'step runner', close: () => chosen.value.dispose() });
  if (left.status === 'rejected') throw left.reason;
  return chosen.value;
}

async function runSteps(job: Job, runner: StepRunner, open: OpenJob, plan: Step[]): Promise<StepResult[]> {
  const { signal } = job.op;
  const out = new StepLog(job);
  let steps: StepResult[];
  try {
    steps = await runner.run(plan, open, out, signal);
  } catch (err) {
    await out.end().catch(() => {});
    if (signal.aborted) throw interrupted(job.kind, job.volume);
    throw err;
  }
  await out.end(); // the last step's output all in build.log, or the log's failure
  if (signal.aborted) throw interrupted(job.kind, job.volume);
  const failed = steps.find((s) => s.status !== 0);
  if (failed) {
    job.stage = failed.name;
    await failedStep(job, open, failed);
  }
  return steps;
}

async function bringArtifact(job: Job, route: ArtifactRoute, open: OpenJob, dest: string, steps: StepResult[]): Promise<number> {
  job.reporter.header('Copying artifact archive to host');
  job.reporter.startStep('copy');
  job.stage = 'copy';
  const t0 = Date.now();
  const size = await route.fetch(open.job.container, dest, job.op.signal, job.spec.tty ? artifactProgress(job) : undefined);
  steps.push({ name: 'copy', seconds: (Date.now() - t0) / 1000, status: 0 });
  return size;
}

/** A progress line on a terminal while a big artifact comes through the Engine API, four a second at most. */
function artifactProgress(job: Job): (received: number, size: number | null) => void {
  let last = 0;
  return (received, size) => {
    const now = Date.now();
    if (now - last < 250) return;
    last = now;
    job.reporter.progress({ text: `copying the artifact: ${formatBytes(received)}${size ? ` of ${formatBytes(size)}` : ''}` });
  };
}

type Outcome = Pick<JobResult, 'path' | 'size' | 'steps' | 'legacy' | 'container' | 'output' | 'inputs'>;

function summary(job: Job, o: Outcome): Omit<JobResult, 'log_size'> {
  const seconds = (Date.now() - job.started) / 1000;
  const timings = o.steps.map((s) => `${s.name} ${formatDuration(s.seconds)}`).join(', ');
  job.reporter.info(
    `${o.path} (${formatBytes(o.size)}) in ${formatDuration(seconds)}: ${timings}; log ${job.log.path} (${formatBytes(job.log.size)})`,
  );
  return { ...o, seconds, log_path: job.log.path, volume: job.volume, container: job.spec.keep_container ? o.container : null };
}

// A build or archive job: preflight, image, volume, one container, the steps
// inside it (as the container's own work with FIFO output on an engine on
// this kernel, as execs otherwise), the artifact copied out atomically, and
// nothing left running afterwards whatever happens.
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Engine } from '../../engine/connect.js';
import { findContainers, removeContainer } from '../../engine/containers.js';
import { pingEngine } from '../../engine/connect.js';
import { engineMessage } from '../../engine/errors.js';
import { runExec } from '../../engine/exec.js';
import { inspectImage } from '../../engine/images.js';
import { LABEL } from '../../engine/labels.js';
import { type OpContext } from '../../protocol/op-context.js';
import { OpError } from '../../errors.js';
import { copyArtifactOut, takeDroppedArtifact } from './artifact/copy.js';
import { BuildLog, tailFile } from '../output/build-log.js';
import { readOrCreateDockerId } from './docker-id.js';
import { openJobContainer, type OpenJob } from './container.js';
import { acquireLock } from './lock.js';
import type { Layout } from './layout.js';
import { beginConnect, checkHostInputs } from './preflight.js';
import { formatBytes, formatDuration, Reporter } from '../output/reporter.js';
import { VOLUME_RE, type JobSpec } from '../spec.js';
import { chooseOutputMode, FifoOutput, fifoPossible, removeStaleFifoDirs, type OutputChoice, type PreparedSequence } from './steps/fifo-output.js';
import { engineDebug } from '../../engine/connect.js';

export type JobKind = 'build' | 'archive';

export interface StepResult {
  name: string;
  seconds: number;
  status: number;
}

export interface JobResult {
  path: string;
  size: number;
  seconds: number;
  steps: StepResult[];
  log_path: string;
  log_size: number;
  volume: string;
  legacy: boolean;
  container: string | null;
  /** How step output reached the log: a FIFO (engine on this kernel) or the exec stream. */
  output: 'fifo' | 'exec';
}

interface Step {
  name: string;
  header?: string;
  cmd: string[];
  env?: string[];
}

export function volumeName(app: string, id: string): string {
  const name = `${app}-${id}`;
  if (!VOLUME_RE.test(name)) throw new OpError('invalid_spec', `the volume name ${name} is not valid for Docker`);
  return name;
}

export function jobSteps(kind: JobKind, spec: JobSpec, layout: Layout, entrypoint: string[]): Step[] {
  const ep = (cmd: string[]) => [...entrypoint, ...cmd];
  const steps: Step[] = [];
  if (layout.legacy) {
    // Old images: make the volume belong to the host user (upstream runs this as root before each step).
    steps.push({ name: 'chown', cmd: ep(['chown', `${spec.uid}:${spec.gid}`, layout.workingDir]), env: ['UID=0', 'GID=0'] });
  }
  if (kind === 'build') {
    steps.push({
      name: 'create-build',
      header: 'Starting Build... (this may take a while)',
      cmd: ep(['/nerves/env/platform/create-build.sh', `/nerves/env/${spec.app}/${spec.defconfig}`, layout.workingDir]),
    });
    steps.push({ name: 'make', cmd: ep(['make', ...spec.make_args]) });
  }
  steps.push({
    name: 'make system',
    header: 'Creating artifact archive',
    cmd: ep(['make', 'system', `NERVES_ARTIFACT_NAME=${spec.download_name}`]),
  });
  return steps;
}

/**
 * A step command that, once it succeeded, copies the artifact to `drop`.
 * Any failure of the copy only removes the partial copy: the runner then
 * fetches the artifact through the Engine API instead.
 */
export function withArtifactDrop(cmd: string[], artifact: string, drop: string): string[] {
  return ['/bin/sh', '-c', 'a=$1 d=$2; shift 2; "$@" || exit; cp -- "$a" "$d" 2>/dev/null || rm -f -- "$d"; exit 0', 'sh', artifact, drop, ...cmd];
}

export async function runJob(kind: JobKind, spec: JobSpec, ctx: OpContext): Promise<JobResult> {
  const reporter = new Reporter(ctx, spec.tty);
  const started = Date.now();
  // The engine's ping and GET /version run while the host side is checked.
  const conn = beginConnect();
  const { engine } = conn;
  await checkHostInputs(spec, kind);
  const id = await readOrCreateDockerId(spec.build_path, (t) => reporter.warn(t));
  const volume = volumeName(spec.app, id);
  // The FIFOs are made while the engine answers and the lock is taken (their
  // directory's name is random and carries our pid: nobody else's), in case
  // the engine's version says it shares this kernel.
  const fifoMade = fifoPossible(engine) && !spec.keep_container ? FifoOutput.create(spec.build_path) : Promise.resolve(null);
  fifoMade.catch(() => {});
  const dropFifo = () => fifoMade.then((f) => f?.remove(), () => {});
  let lock: Awaited<ReturnType<typeof acquireLock>>;
  try {
    await conn.answered;
    lock = await acquireLock(spec.build_path, kind, (t) => reporter.warn(t));
  } catch (err) {
    await dropFifo();
    throw err;
  }
  const unlock = ctx.cleanup.add('build lock', () => lock.release());
  let log: BuildLog;
  try {
    log = await BuildLog.create(join(spec.log_dir, kind === 'build' ? 'build.log' : 'archive.log'), (h) => reporter.headline(h));
  } catch (err) {
    unlock();
    await lock.release();
    await dropFifo();
    throw new OpError('log_file', `cannot write ${kind === 'build' ? 'build.log' : 'archive.log'} in ${spec.log_dir}: ${(err as Error).message}`);
  }
  let output: OutputChoice = { mode: 'exec', why: 'not chosen yet' };
  let open: OpenJob | null = null;
  let fifo: FifoOutput | null = null;
  // Set inside openJobContainer's callback (hence an object: TypeScript would narrow a let to null).
  const prepared: { sequence: PreparedSequence | null } = { sequence: null };
  let stepName = 'prepare';
  reporter.start();
  try {
    // Independent, all at once: the engine lists leftovers and looks up the
    // image while its version is checked, and the FIFOs get ready.
    const image = inspectImage(engine, spec.docker.tag);
    image.catch(() => {});
    const [left, made, version] = await Promise.allSettled([
      removeLeftovers(engine, volume, reporter),
      fifoMade,
      conn.version,
      removeStaleFifoDirs(spec.build_path),
    ]);
    if (made.status === 'fulfilled') fifo = made.value; // removed in finally, also when something else failed
    if (version.status === 'rejected') throw version.reason;
    if (left.status === 'rejected') throw left.reason;
    output = chooseOutputMode(engine, version.value);
    if (spec.keep_container && output.mode === 'fifo') {
      // A kept container must start again later: no mount of a directory that goes away with the job.
      output = { mode: 'exec', why: 'keep_container: the kept container must not mount a temporary directory' };
    }
    if (output.mode === 'exec' && fifo) {
      await fifo.remove();
      fifo = null;
    }
    if (output.mode === 'fifo' && made.status === 'rejected') {
      // A file system without FIFOs, say: the exec stream works everywhere.
      reporter.warn(`${(made.reason as Error).message}; streaming step output through the engine instead`);
      output = { mode: 'exec', why: 'no FIFO could be made in the build path' };
    }
    engineDebug(`step output through ${output.mode === 'fifo' ? 'a FIFO' : 'the exec stream'}: ${output.why}`);
    const file = `${spec.download_name}${spec.ext}`;
    const dest = join(spec.download_dir, file);
    const drop = fifo?.dropPath(file);
    const planFor = (entrypoint: string[], layout: Layout): Step[] =>
      jobSteps(kind, spec, layout, entrypoint).map((step) =>
        // On this kernel, make system also leaves a copy of the artifact for the host (no archive request).
        drop && step.name === 'make system' ? { ...step, cmd: withArtifactDrop(step.cmd, `${layout.workingDir}/${file}`, drop.inContainer) } : step,
      );
    let plan: Step[] = [];
    open = await openJobContainer(kind, spec, {
      engine,
      image,
      reporter,
      log,
      ctx,
      volume,
      extraMounts: fifo ? [fifo.mount] : [],
      entrypoint: async (image, layout) => {
        plan = planFor(image.entrypoint, layout);
        // All steps as the container's own work, no exec (the engine charges 50-100 ms per exec).
        if (!fifo) return undefined;
        prepared.sequence = await fifo.prepareSequence(plan);
        return prepared.sequence.entrypoint;
      },
    });
    const { job, layout } = open;

    const beginStep = (step: Step) => {
      if (step.header) reporter.header(step.header);
      reporter.startStep(step.name);
      stepName = step.name;
    };
    const steps: StepResult[] = [];
    let sink: Writable | null = null;
    try {
      const sequence = prepared.sequence;
      if (sequence) {
        const results = await sequence.run(
          {
            start: (i) => {
              beginStep(plan[i]!);
              sink = log.sink();
              return sink;
            },
            end: () => finishSink(sink),
            warn: (t) => reporter.warn(t),
          },
          job.ended,
        );
        results.forEach((r, i) => steps.push({ name: plan[i]!.name, ...r }));
        // A step that did not finish: the container (or the driver) ended early.
        if (steps.length < plan.length && !steps.some((s) => s.status !== 0)) {
          const name = plan[steps.length]!.name;
          stepName = name;
          if (!ctx.signal.aborted) {
            await containerGone(engine, job.id, name, kind, volume, 5000);
            throw new OpError(
              'step_driver_lost',
              `The runner lost track of the "${name}" step: the process that runs the steps in the build container ended (killed from outside?).`,
              `Rerun the ${kind}; the build volume ${volume} is kept, so it resumes. NERVES_DOCKER_TS_STEP_OUTPUT=exec runs each step as an exec instead.`,
            );
          }
        }
      } else {
        for (const step of plan) {
          beginStep(step);
          const t0 = Date.now();
          sink = log.sink();
          const exec = { cmd: step.cmd, env: step.env, workingDir: layout.workingDir };
          const status = await runExec(job.container, exec, sink);
          await finishSink(sink);
          sink = null;
          steps.push({ name: step.name, seconds: (Date.now() - t0) / 1000, status });
          if (status !== 0 || ctx.signal.aborted) break;
        }
      }
    } catch (err) {
      if (ctx.signal.aborted) throw interrupted(kind, volume);
      throw err;
    } finally {
      await finishSink(sink).catch(() => {});
    }
    if (ctx.signal.aborted) throw interrupted(kind, volume);
    const failed = steps.find((s) => s.status !== 0);
    if (failed) {
      stepName = failed.name;
      // A step killed by a signal is often the container being stopped: give the engine a moment to say so.
      await containerGone(engine, job.id, failed.name, kind, volume, failed.status >= 128 ? 3000 : 0);
      await failStep(failed.name, failed.status, log);
    }

    reporter.header('Copying artifact archive to host');
    reporter.startStep('copy');
    stepName = 'copy';
    const t0 = Date.now();
    const size = (drop && (await takeDroppedArtifact(drop.onHost, dest))) ?? (await copyArtifactOut(job.container, `${layout.workingDir}/${file}`, dest));
    steps.push({ name: 'copy', seconds: (Date.now() - t0) / 1000, status: 0 });

    const seconds = (Date.now() - started) / 1000;
    const timings = steps.map((s) => `${s.name} ${formatDuration(s.seconds)}`).join(', ');
    reporter.info(`${dest} (${formatBytes(size)}) in ${formatDuration(seconds)}: ${timings}; log ${log.path} (${formatBytes(log.size)})`);
    return {
      path: dest,
      size,
      seconds,
      steps,
      log_path: log.path,
      log_size: log.size,
      volume,
      legacy: layout.legacy,
      container: spec.keep_container ? job.id : null,
      output: output.mode,
    };
  } catch (err) {
    if (ctx.signal.aborted && !(err instanceof OpError && err.code === 'interrupted')) throw interrupted(kind, volume);
    if (!(err instanceof OpError)) {
      // A raw error from the engine connection: say whether the engine went away.
      const lost = await pingEngine(engine, 3000).then(
        () => false,
        () => true,
      );
      if (lost) {
        throw new OpError(
          'engine_lost',
          `The Docker engine at ${engine.where} stopped answering during the "${stepName}" step: ${engineMessage(err)}`,
          `Start the engine again and rerun the ${kind}; the build volume ${volume} is kept, so it resumes.`,
        );
      }
    }
    throw err;
  } finally {
    reporter.stop();
    await log.close();
    await open?.close();
    prepared.sequence?.dispose();
    if (fifo) {
      // Removed after the reply (~15 ms); the sidecar does not exit before it is gone.
      const f = fifo;
      const unregister = ctx.cleanup.add('step output FIFOs', () => f.remove());
      void f
        .remove()
        .catch(() => {})
        .finally(unregister);
    }
    unlock();
    await lock.release();
  }
}

/** Ends a step's sink and waits until everything in it is in the log (so a failure's tail is complete). */
function finishSink(sink: Writable | null): Promise<void> {
  if (!sink || sink.writableFinished) return Promise.resolve();
  return new Promise((resolve, reject) => {
    sink.once('error', reject);
    sink.end(() => resolve());
  });
}

/**
 * Containers of this build volume left by a job whose sidecar died (the lock
 * is ours, so no live job owns them); kept post-mortem containers stay.
 */
async function removeLeftovers(engine: Engine, volume: string, reporter: Reporter): Promise<void> {
  for (const c of await findContainers(engine, { [LABEL.volume]: volume })) {
    if (c.Labels?.[LABEL.keep] === 'true') continue;
    reporter.warn(`removing the container ${c.Id.slice(0, 12)} left by an earlier ${c.Labels?.[LABEL.kind] ?? 'job'} (pid ${c.Labels?.[LABEL.ownerPid] ?? '?'})`);
    await removeContainer(engine, c.Id);
  }
}

/**
 * A step that failed because its container went away (the engine stopped,
 * or someone removed it) is reported as that, not as a build failure;
 * `waitMs`: how long a container that still runs may take to stop.
 */
async function containerGone(engine: Engine, id: string, step: string, kind: JobKind, volume: string, waitMs = 0): Promise<void> {
  const isRunning = () =>
    engine.docker
      .getContainer(id)
      .inspect()
      .then((i) => i.State.Running, () => false);
  // An engine that is shutting down still answers for a moment, with the container still "running".
  const deadline = Date.now() + waitMs;
  let running = await isRunning();
  while (running && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    running = await isRunning();
  }
  if (running) return;
  const engineUp = await pingEngine(engine, 3000).then(
    () => true,
    () => false,
  );
  throw new OpError(
    engineUp ? 'container_stopped' : 'engine_lost',
    engineUp
      ? `The build container stopped during the "${step}" step (stopped or removed outside the runner).`
      : `The Docker engine at ${engine.where} stopped answering during the "${step}" step.`,
    `Rerun the ${kind}; the build volume ${volume} is kept, so it resumes.`,
  );
}

function interrupted(kind: JobKind, volume: string): OpError {
  return new OpError(
    'interrupted',
    `The ${kind} was interrupted; its container was removed and the build volume ${volume} was kept, so the next build resumes.`,
  );
}

async function failStep(name: string, status: number, log: BuildLog): Promise<never> {
  const tail = await tailFile(log.path, 16).catch(() => '');
  throw new OpError(
    'step_failed',
    `The Nerves Docker build_runner encountered an error while building:\n\n-----\n${tail}\n-----\n\n` +
      `Step "${name}" exited with status ${status}.`,
    `See ${log.path}.`,
  );
}

export type { Engine };

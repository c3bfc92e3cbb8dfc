// The container a job works in, shared by builds, archives and the shell:
// image resolved, build volume ensured, layout computed, the container
// started with labels, and held by the job's scope from its create on
// (removed on interrupt and at the sidecar's exit, even while the inputs
// are copied before its start; released, or stopped when kept, at the end),
// with the CPU and memory limits in force (limits.ts).
// Also: containers of a build volume left by a job whose sidecar died.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { engineDebug, type Engine } from '../../engine/connect.js';
import {
  awaitAutoRemoval,
  findContainers,
  managedLabels,
  removeContainer,
  startJobContainer,
  stopContainer,
  type JobContainer,
  type JobMount,
} from '../../engine/containers.js';
import type { ImageSummary } from '../../engine/images.js';
import { LABEL } from '../../engine/labels.js';
import { ensureVolume } from '../../engine/volumes.js';
import { OpError } from '../../errors.js';
import type { OpContext } from '../../protocol/op-context.js';
import type { BuildLog } from '../output/build-log.js';
import type { Reporter } from '../output/reporter.js';
import type { JobSpec } from '../spec.js';
import { ensureJobImage } from './image-source.js';
import { missingBindSource } from './inputs/bind.js';
import { InputsNotVisible, type InputTransport } from './inputs/transport.js';
import { computeLayout, type Layout } from './layout.js';
import { describeLimits, droppedLimits, hostConfigLimits, resourceLimits, type ResourceLimits } from './limits.js';
import type { JobScope } from './scope.js';

export interface OpenJob {
  job: JobContainer;
  image: ImageSummary;
  layout: Layout;
  limits: ResourceLimits;
}

export interface OpenJobDeps {
  engine: Engine;
  /** The image's lookup, when the caller started it early. */
  image?: Promise<ImageSummary | null>;
  reporter: Reporter;
  log: BuildLog;
  ctx: OpContext;
  scope: JobScope;
  volume: string;
  /** How the inputs reach the container. */
  inputs: InputTransport;
  /** The layout, when the caller computed it (else the spec's, with `inputs`). */
  layout?: Layout;
  /** Mounts beyond the layout's (the step output FIFO's directory). */
  extraMounts?: JobMount[];
  /** Called once the image and layout are known: PID 1 for the container instead of the plain keeper. */
  entrypoint?: (image: ImageSummary, layout: Layout) => Promise<string[] | undefined>;
}

export async function openJobContainer(kind: 'build' | 'archive' | 'shell', spec: JobSpec, deps: OpenJobDeps): Promise<OpenJob> {
  const { engine, reporter, log, ctx, volume } = deps;
  const limits = resourceLimits(spec); // valid: checkHostInputs read it first
  const image = await ensureJobImage(spec, { engine, reporter, log, prompt: (m) => ctx.prompt(m), local: deps.image, signal: ctx.signal });
  const keep = kind !== 'shell' && spec.keep_container;
  const labels = managedLabels({
    [LABEL.package]: spec.app,
    [LABEL.volume]: volume,
    [LABEL.job]: randomUUID(),
    [LABEL.kind]: kind,
    [LABEL.ownerPid]: String(process.pid),
    [LABEL.ownerHost]: hostname(),
    [LABEL.keep]: String(keep),
  });
  await ensureVolume(engine, volume, managedLabels({ [LABEL.package]: spec.app, [LABEL.buildPath]: spec.build_path }));
  const { inputs } = deps;
  const layout = deps.layout ?? computeLayout(spec, volume, inputs);
  const entrypoint = await deps.entrypoint?.(image, layout);
  ctx.signal.throwIfAborted();
  // Held from its create on: the inputs' copy (beforeStart) may take minutes,
  // and an interrupt or the sidecar's exit meanwhile must not leave the
  // "Created" container behind. Once started, the hold below has it.
  let unstarted: string | null = null;
  const job = await startJobContainer(engine, {
    entrypoint,
    image: spec.docker.tag,
    labels,
    env: layout.env,
    mounts: [...layout.mounts, ...(deps.extraMounts ?? [])],
    workingDir: layout.workingDir,
    keep,
    limits: hostConfigLimits(limits),
    onCreated: (created) => {
      unstarted = created;
      deps.scope.hold({
        label: `${kind} container ${created.slice(0, 12)} (before its start)`,
        close: () => {},
        abandon: () => {
          const left = unstarted;
          unstarted = null;
          return left ? removeContainer(engine, left) : undefined;
        },
      });
    },
    beforeStart: inputs.beforeStart?.bind(inputs),
  }).catch((err) => {
    unstarted = null; // startJobContainer removed it
    throw unseenBindSource(err, inputs, engine) ?? err;
  });
  unstarted = null; // handed over to the hold of the started container
  const id = job.id;
  holdStarted(deps.scope, `${kind} container ${id.slice(0, 12)}`, { engine, reporter, job, keep });
  engineDebug(`${kind} container limits: ${describeLimits(limits)}`);
  for (const line of await droppedLimits(engine, id, limits)) reporter.warn(line);
  await inputs.afterStart?.(job.container);
  return { job, image, layout, limits };
}

/**
 * The started container, let go however the job ends: removed at an
 * interrupt; at the end, stopped and named when kept, else released to
 * AutoRemove.
 */
function holdStarted(
  scope: JobScope,
  label: string,
  { engine, reporter, job, keep }: { engine: Engine; reporter: Reporter; job: JobContainer; keep: boolean },
): void {
  const id = job.id;
  scope.hold({
    label,
    abandon: () => {
      job.release();
      return removeContainer(engine, id);
    },
    close: async () => {
      job.release();
      if (keep) {
        await stopContainer(engine, id).catch(() => {});
        // Said however the job ended (a failed build is when it is wanted), with what works on it: its PID 1
        // waits on stdin, so `docker start -ai` gives no shell.
        const short = id.slice(0, 12);
        reporter.info(
          `Kept the build container ${short} (stopped) for a look inside: docker start ${short} && docker exec -it ${short} bash; the next clean removes it`,
        );
        return;
      }
      // Releasing the keeper stops the container and AutoRemove removes it:
      // wait for that (a DELETE now would race it), removing it only if it
      // stays. The scope does not wait for this, so the reply is not held
      // up; the sidecar's exit does.
      await awaitAutoRemoval(engine, id).catch(() => {});
    },
    background: !keep,
  });
}

/** A create that failed on a bind source the engine does not have: the fall-back signal (auto), or a clear error. */
function unseenBindSource(err: unknown, inputs: InputTransport, engine: Engine): Error | null {
  const path = missingBindSource(err);
  if (!path) return null;
  if (inputs.checked) return new InputsNotVisible(path, 'the engine has no such path for the bind mount');
  return new OpError(
    'inputs_not_visible',
    `The Docker engine at ${engine.where} cannot see ${path} (a bind mount's source does not exist where the engine runs: another machine, a VM without that share, or another mount namespace).`,
    'Set build_runner_opts inputs: :copy (or NERVES_DOCKER_TS_INPUTS=copy) to copy the inputs into volumes on the engine, or share that path with the engine.',
  );
}

/**
 * Containers of this build volume left by a job whose sidecar died (the lock
 * is ours, so no live job owns them); kept post-mortem containers stay.
 */
export async function removeLeftovers(engine: Engine, volume: string, reporter: Reporter): Promise<void> {
  for (const c of await findContainers(engine, { [LABEL.volume]: volume })) {
    if (c.Labels?.[LABEL.keep] === 'true') continue;
    reporter.warn(
      `removing the container ${c.Id.slice(0, 12)} left by an earlier ${c.Labels?.[LABEL.kind] ?? 'job'} (pid ${c.Labels?.[LABEL.ownerPid] ?? '?'})`,
    );
    await removeContainer(engine, c.Id);
  }
}

// The container a job works in, shared by builds, archives and the shell:
// image resolved, build volume ensured, layout computed, the container
// started with labels, and registered for removal on abort and at exit.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Engine } from '../../engine/connect.js';
import { managedLabels, removeContainer, startJobContainer, stopContainer, type JobContainer, type JobMount } from '../../engine/containers.js';
import type { ImageSummary } from '../../engine/images.js';
import { LABEL } from '../../engine/labels.js';
import { ensureVolume } from '../../engine/volumes.js';
import type { OpContext } from '../../protocol/op-context.js';
import type { BuildLog } from '../output/build-log.js';
import { ensureJobImage } from './image-source.js';
import { computeLayout, type Layout } from './layout.js';
import type { Reporter } from '../output/reporter.js';
import type { JobSpec } from '../spec.js';

export interface OpenJob {
  job: JobContainer;
  image: ImageSummary;
  layout: Layout;
  /** Releases the keeper and starts removing the container (or stops it, when kept); idempotent. */
  close(): Promise<void>;
}

export interface OpenJobDeps {
  engine: Engine;
  /** The image's lookup, when the caller started it early. */
  image?: Promise<ImageSummary | null>;
  reporter: Reporter;
  log: BuildLog;
  ctx: OpContext;
  volume: string;
  /** Mounts beyond the layout's (the step output FIFO's directory). */
  extraMounts?: JobMount[];
  /** Called once the image and layout are known: PID 1 for the container instead of the plain keeper. */
  entrypoint?: (image: ImageSummary, layout: Layout) => Promise<string[] | undefined>;
}

export async function openJobContainer(kind: 'build' | 'archive' | 'shell', spec: JobSpec, deps: OpenJobDeps): Promise<OpenJob> {
  const { engine, reporter, log, ctx, volume } = deps;
  const image = await ensureJobImage(spec, { engine, reporter, log, prompt: (m) => ctx.prompt(m), local: deps.image });
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
  const layout = computeLayout(spec, volume);
  const entrypoint = await deps.entrypoint?.(image, layout);
  ctx.signal.throwIfAborted();
  const job = await startJobContainer(engine, {
    entrypoint,
    image: spec.docker.tag,
    labels,
    env: layout.env,
    mounts: [...layout.mounts, ...(deps.extraMounts ?? [])],
    workingDir: layout.workingDir,
    keep,
  });
  const id = job.id;
  const unregister = ctx.cleanup.add(`${kind} container ${id.slice(0, 12)}`, () => removeContainer(engine, id));
  const onAbort = () => void removeContainer(engine, id).catch(() => {});
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let closed = false;
  return {
    job,
    image,
    layout,
    close: async () => {
      if (closed) return;
      closed = true;
      ctx.signal.removeEventListener('abort', onAbort);
      job.release();
      if (keep && !ctx.signal.aborted) {
        await stopContainer(engine, id).catch(() => {});
        unregister();
        return;
      }
      // Releasing the keeper already stops the container (and AutoRemove
      // removes it); the explicit removal makes sure of it without holding
      // up the reply. It stays registered until done, so the sidecar does
      // not exit before it.
      void removeContainer(engine, id)
        .catch(() => {})
        .finally(unregister);
    },
  };
}

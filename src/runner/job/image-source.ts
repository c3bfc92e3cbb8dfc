// Makes sure the build image is there, as upstream orders it: the image is
// local -> use it; else pull it; else ask, then build it from the configured
// Dockerfile's directory. Beyond upstream: an image archive (.tar, .tar.gz)
// is loaded, and a digest-pinned reference must come from the registry and
// match its digest.
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Engine } from '../../engine/connect.js';
import { contextTar } from '../../engine/build-context.js';
import { buildImageFromContext, inspectImage, loadImageArchive, pullImageThroughEngine, type ImageSummary } from '../../engine/images.js';
import { managedLabels } from '../../engine/containers.js';
import { OpError } from '../../errors.js';
import { pinnedDigest } from '../../image/reference.js';
import type { BuildLog } from '../output/build-log.js';
import type { Reporter } from '../output/reporter.js';
import type { JobSpec } from '../spec.js';

export const CREATE_PROMPT = 'The Nerves Docker build_runner needs to create the image.\nProceed? ';

function isArchive(path: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/.test(path);
}

export interface ImageDeps {
  engine: Engine;
  reporter: Reporter;
  log: BuildLog;
  prompt(message: string): Promise<unknown>;
  /** The image's lookup, when the caller started it early (else it is made here). */
  local?: Promise<ImageSummary | null> | undefined;
  /** The job's interrupt: stops a pull or a build by the engine at once. */
  signal?: AbortSignal;
}

/**
 * What ensureJobImage does for a spec, given the image's local lookup; doctor
 * reports it, so that it says what the next build will do.
 */
export type ImagePlan =
  /** The image is here (with the pinned digest, if any). */
  | { kind: 'local'; image: ImageSummary }
  /** Loaded from the configured archive, no prompt. */
  | { kind: 'load'; archive: string }
  /** Pinned by digest: pulled from its registry, or the build fails. */
  | { kind: 'pull'; digest: string }
  /** Pulled; else, after a prompt, built from the Dockerfile's directory. */
  | { kind: 'pull_or_build'; context: string; dockerfile: string }
  /** Pulled; else the build fails with this error (the configured source does not exist). */
  | { kind: 'pull_or_fail'; error: OpError };

export async function planJobImage(spec: JobSpec, local: ImageSummary | null): Promise<ImagePlan> {
  const tag = spec.docker.tag;
  const digest = pinnedDigest(tag);
  if (local && (!digest || local.repoDigests.some((d) => d.endsWith(`@${digest}`)))) return { kind: 'local', image: local };
  if (digest) return { kind: 'pull', digest };
  const source = spec.docker.dockerfile;
  const st = await stat(source).catch(() => null);
  if (isArchive(source)) {
    if (st?.isFile()) return { kind: 'load', archive: source };
    return {
      kind: 'pull_or_fail',
      error: new OpError(
        'image_archive_missing',
        `the image ${tag} is not available (not here, and no registry gave it) and its image archive ${source} does not exist`,
        "Make the archive (e.g. `docker save`, or the image toolkit's --out) at that path, fix build_runner_config[:docker] in the package's nerves_package config, or load the image first.",
      ),
    };
  }
  if (!st) {
    return {
      kind: 'pull_or_fail',
      error: new OpError(
        'dockerfile_missing',
        `the image ${tag} is not available and its Dockerfile ${source} does not exist`,
        "Fix build_runner_config[:docker] in the package's nerves_package config, or pull/load the image first.",
      ),
    };
  }
  return st.isDirectory()
    ? { kind: 'pull_or_build', context: source, dockerfile: 'Dockerfile' }
    : { kind: 'pull_or_build', context: dirname(source), dockerfile: basename(source) };
}

/** The job's image, there to use: local, pulled by the engine, loaded from an archive, or built (see above). */
export async function ensureJobImage(spec: JobSpec, deps: ImageDeps): Promise<ImageSummary> {
  const { engine, reporter } = deps;
  const tag = spec.docker.tag;
  const plan = await planJobImage(spec, await (deps.local ?? inspectImage(engine, tag)));
  if (plan.kind === 'local') return plan.image;
  if (plan.kind === 'load') {
    const source = plan.archive;
    reporter.header(`Loading image archive ${source}`);
    const loaded = await loadImageArchive(source, { docker: engine.docker }).catch((err: Error) => {
      throw new OpError(
        'image_load',
        `could not load the image archive ${source}: ${err.message}`,
        err instanceof OpError ? err.hint : null,
      );
    });
    const image = await inspectImage(engine, tag);
    if (image) return image;
    throw new OpError(
      'image_load',
      `the image archive ${source} holds ${loaded.length ? loaded.join(', ') : 'no named image'}, not ${tag}`,
      'Make the tag in build_runner_config[:docker] match the archive, or rebuild the archive with that name and tag.',
    );
  }
  const { image: pulled, failure } = await pullJobImage(tag, plan.kind === 'pull' ? plan.digest : null, deps);
  if (pulled) return pulled;
  if (plan.kind === 'pull_or_fail') {
    // What the registry said belongs in the error too, not only in build.log.
    throw failure ? new OpError(plan.error.code, `${plan.error.message} (the pull: ${failure})`, plan.error.hint) : plan.error;
  }
  if (plan.kind === 'pull_or_build') return buildFromDockerfile(tag, plan.context, plan.dockerfile, deps);
  throw new OpError('image_pull', `could not pull ${tag}`); // pinned: pullJobImage throws first
}

/**
 * The image pulled by the engine, or null when no registry gave it (a pinned one must come, with its
 * digest), with the pull's error when it failed.
 */
async function pullJobImage(
  tag: string,
  digest: string | null,
  deps: ImageDeps,
): Promise<{ image: ImageSummary | null; failure?: string }> {
  const { engine, reporter, log } = deps;
  reporter.header('Trying to pull image');
  const layers = new Map<string, string>();
  let failure: string | undefined;
  try {
    await pullImageThroughEngine(
      engine,
      tag,
      (p) => {
        if (!p.layer) return;
        layers.set(p.layer, p.status);
        const done = [...layers.values()].filter((s) => /complete|exists/i.test(s)).length;
        reporter.progress({ text: `pull ${tag}: ${p.layer} ${p.status} (${done}/${layers.size} layers)`, ...p });
      },
      deps.signal,
    );
  } catch (err) {
    deps.signal?.throwIfAborted(); // interrupted: not a failed pull
    failure = (err as Error).message;
    await log.write(`pull of ${tag} failed: ${failure}\n`);
    if (digest) {
      throw new OpError(
        'image_pull',
        `could not pull ${tag}: ${(err as Error).message}`,
        'An image pinned by digest must come from its registry: check the name, the digest and your network, or `docker load` the image first.',
      );
    }
  }
  const pulled = await inspectImage(engine, tag);
  if (pulled && digest && !pulled.repoDigests.some((d) => d.endsWith(`@${digest}`))) {
    throw new OpError(
      'image_digest',
      `the pulled image ${tag} does not carry the digest ${digest} (it has: ${pulled.repoDigests.join(', ') || 'none'})`,
    );
  }
  if (!pulled && digest) throw new OpError('image_pull', `could not pull ${tag}: the engine reported no error, but the image is not there`);
  return failure === undefined ? { image: pulled } : { image: pulled, failure };
}

async function buildFromDockerfile(tag: string, contextDir: string, dockerfile: string, deps: ImageDeps): Promise<ImageSummary> {
  const { engine, reporter, log } = deps;
  reporter.header('Create image');
  const answer = await deps.prompt(CREATE_PROMPT);
  if (answer !== true) {
    throw new OpError(
      'image_declined',
      'Unable to use Nerves Docker build_runner without image',
      `Build it yourself with: docker build --tag ${tag} ${contextDir}`,
    );
  }
  reporter.info(`Building ${tag} from ${contextDir} (output in ${log.path})`);
  try {
    await buildImageFromContext(
      engine,
      await contextTar(contextDir, dockerfile),
      { tag, dockerfile, labels: managedLabels({}), ...(deps.signal ? { signal: deps.signal } : {}) },
      // Not awaited (the engine's lines come as they come): a write that fails is remembered by the log, reported below.
      (text) => void log.write(text).catch(() => {}),
    );
  } catch (err) {
    deps.signal?.throwIfAborted(); // interrupted: not a failed build
    if (err instanceof OpError && err.code === 'input_path') throw err; // the context: its own words and what to do
    throw new OpError(
      'image_build',
      `Nerves Docker build_runner could not create the image ${tag}: ${(err as Error).message}`,
      `See ${log.path}.`,
    );
  }
  await log.settled(); // the build's output is in the log, or the log's failure (OpError log_file) ends the job
  const built = await inspectImage(engine, tag);
  if (!built) throw new OpError('image_build', `the build of ${tag} finished but the image is not there`);
  return built;
}

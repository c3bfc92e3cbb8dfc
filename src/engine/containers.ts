// Job containers: one long-lived container per job whose PID 1 is a keeper
// that exits when the sidecar's attach connection closes (a dead-man switch:
// a killed sidecar cannot leave a running container behind). The steps run
// as execs inside it, or, on an engine on this kernel, in the background of
// PID 1 itself (see src/runner/job/steps/).
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import type { Engine } from './connect.js';
import { engineMessage, isNotFound, statusOf } from './errors.js';
import { knownFailureHint, LIMITS_HINT, startFailureHint } from './known-failures.js';
import { LABEL } from './labels.js';
import { OpError } from '../errors.js';

/**
 * A bind mount or a volume of the job container (the Engine API's
 * HostConfig.Mounts). The OCI runtime bundle's mounts are image/container.ts's
 * MountSpec.
 */
export interface JobMount {
  type: 'bind' | 'volume';
  source: string;
  target: string;
  readOnly?: boolean;
}

export interface JobContainerSpec {
  image: string;
  labels: Record<string, string>;
  env: string[];
  mounts: JobMount[];
  workingDir: string;
  /** Keep the container (stopped) after the job, for post-mortem debugging. */
  keep: boolean;
  name?: string | undefined;
  /** PID 1 instead of KEEPER; it must also end when its stdin closes. */
  entrypoint?: string[] | undefined;
  /** Resource limits as HostConfig fields (NanoCpus, Memory, MemorySwap); none when empty. */
  limits?: { NanoCpus?: number; Memory?: number; MemorySwap?: number } | undefined;
  /** Told the container's id as soon as it is created, before beforeStart: the caller can hold it for an interrupt. */
  onCreated?: ((id: string) => void) | undefined;
  /** Work on the created container before it starts (its archive API already sees its mounts); a failure removes it. */
  beforeStart?: ((container: Docker.Container) => Promise<void>) | undefined;
}

// Reads stdin until EOF using only shell builtins: the container lives as long
// as the sidecar keeps its attach connection open. As PID 1 it would ignore
// SIGTERM, so `docker stop` (or an engine shutting down) would wait 10 s
// before killing it: the trap makes it end at once, and the steps with it.
export const KEEPER_TRAP = "trap 'exit 143' TERM INT HUP";
export const KEEPER_LOOP = 'while read -r _; do :; done';
export const KEEPER = ['/bin/sh', '-c', `${KEEPER_TRAP}; ${KEEPER_LOOP}`];

export interface JobContainer {
  container: Docker.Container;
  id: string;
  /** Settles when the container has stopped (or is gone), the engine went away, or release(). */
  readonly ended: Promise<void>;
  /** Ends the keeper: the container stops (and is removed unless kept). */
  release(): void;
}

export async function startJobContainer(engine: Engine, spec: JobContainerSpec): Promise<JobContainer> {
  const container = await createJobContainer(engine, spec);
  spec.onCreated?.(container.id);
  if (spec.beforeStart) {
    try {
      await spec.beforeStart(container);
    } catch (err) {
      await removeContainer(engine, container.id).catch(() => {});
      throw err;
    }
  }
  return jobContainer(container, await attachAndStart(engine, container, Object.keys(spec.limits ?? {}).length > 0));
}

/** POST /containers/create: the keeper (or the given PID 1) with stdin open, the mounts, the labels and the limits. */
async function createJobContainer(engine: Engine, spec: JobContainerSpec): Promise<Docker.Container> {
  try {
    return await engine.docker.createContainer({
      name: spec.name,
      Image: spec.image,
      Entrypoint: spec.entrypoint ?? KEEPER,
      Cmd: [],
      Env: spec.env,
      WorkingDir: spec.workingDir,
      Labels: spec.labels,
      AttachStdin: true,
      OpenStdin: true,
      StdinOnce: true,
      Tty: false,
      HostConfig: {
        AutoRemove: !spec.keep,
        Privileged: false,
        ...spec.limits,
        Mounts: spec.mounts.map((m) => ({ Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly ?? false })),
      },
    });
  } catch (err) {
    // No HTTP answer: left uncoded, so that the job can tell a lost engine (engine_lost) from the rest.
    if (statusOf(err) === undefined) throw new Error(`could not create the build container from ${spec.image}: ${engineMessage(err)}`);
    // "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available", "Minimum memory limit allowed is 6MB".
    const refusedLimit = spec.limits && Object.keys(spec.limits).length > 0 && /\bCPUs?\b|memory/i.test(engineMessage(err));
    throw new OpError(
      'container_create',
      `could not create the build container from ${spec.image}: ${engineMessage(err)}`,
      knownFailureHint(engineMessage(err)) ??
        (refusedLimit
          ? LIMITS_HINT
          : 'Check that the image is there (`docker image ls`) and that the mounted paths exist and are shared with the engine.'),
    );
  }
}

/** The stdin-only attach (the keeper's lifeline), then the start; a failure removes the container. limitsAsked: the container has resource limits. */
async function attachAndStart(engine: Engine, container: Docker.Container, limitsAsked: boolean): Promise<Duplex> {
  let stdin: Duplex | undefined;
  try {
    stdin = (await container.attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true })) as Duplex;
    stdin.on('error', () => {});
    await container.start();
    return stdin;
  } catch (err) {
    stdin?.destroy();
    await removeContainer(engine, container.id).catch(() => {}); // the start's error is the one to report
    if (statusOf(err) === undefined) throw new Error(`could not start the build container: ${engineMessage(err)}`);
    throw new OpError(
      'container_start',
      `could not start the build container: ${engineMessage(err)}`,
      startFailureHint(engineMessage(err), limitsAsked),
    );
  }
}

/** The handle of a started job container: when it has ended, and how to let it go. */
function jobContainer(container: Docker.Container, attached: Duplex): JobContainer {
  let ended: Promise<void> | null = null;
  return {
    container,
    id: container.id,
    // The stdin-only attach stays open after the container exits (the engine
    // waits on our side), so ask the engine to tell (POST /wait); made on
    // first use only, as it holds a connection open.
    get ended() {
      ended ??= new Promise<void>((resolve) => {
        if (attached.destroyed) return resolve();
        for (const event of ['end', 'close', 'error']) attached.once(event, () => resolve());
        container.wait().then(
          () => resolve(),
          () => resolve(), // gone already (AutoRemove), or the engine went away
        );
      });
      return ended;
    },
    release: () => {
      attached.end();
      attached.destroy();
    },
  };
}

/** Kills and removes a container; one that is already gone is fine. */
export async function removeContainer(engine: Engine, id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await engine.docker.getContainer(id).remove({ force: true, v: false });
      return;
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      // 404: gone already; 409: removal already in progress (AutoRemove).
      if (isNotFound(err) || code === 409) return;
      // Podman 4 compatibility (Docker never answers this): a force-remove that
      // races with the container's own exit (the keeper ending when the attach
      // closes) fails with 500 "... container state improper: stopped", and the
      // stopped container lingers. Removing it again a moment later succeeds, or
      // finds it gone (removed by AutoRemove).
      if (code === 500 && attempt < 10 && /container state improper/i.test(engineMessage(err))) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      throw err;
    }
  }
}

/** How long a released container may take to end and be removed by AutoRemove before it is removed by force. */
const AUTO_REMOVE_MS = 10_000;

/**
 * Lets a released container that has AutoRemove go without racing the
 * engine's own removal (a DELETE that comes while AutoRemove works makes
 * dockerd log "removal of container ... is already in progress" as an
 * error): waits until the engine has removed it (POST /wait?condition=removed),
 * and removes it itself only when it is still there after that (a keeper
 * that did not end in time, an API before 1.30 that waits for the exit only,
 * an engine that did not remove it), so that none is left behind.
 */
export async function awaitAutoRemoval(engine: Engine, id: string, timeoutMs = AUTO_REMOVE_MS): Promise<void> {
  const container = engine.docker.getContainer(id);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  try {
    await container.wait({ condition: 'removed', abortSignal: deadline.signal });
  } catch (err) {
    if (isNotFound(err)) return; // removed before the wait began
  } finally {
    clearTimeout(timer);
  }
  // Removed by now, or removal under way: give it a moment before forcing it.
  for (let i = 0; i < 20; i++) {
    try {
      await container.inspect();
    } catch (err) {
      if (isNotFound(err)) return;
    }
    if (deadline.signal.aborted) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await removeContainer(engine, id);
}

/** Stops a kept container without removing it. */
export async function stopContainer(engine: Engine, id: string): Promise<void> {
  try {
    await engine.docker.getContainer(id).kill();
  } catch (err) {
    const code = (err as { statusCode?: number }).statusCode;
    if (!isNotFound(err) && code !== 409) throw err;
  }
}

/** Containers that carry all the given labels (running or not). */
export async function findContainers(engine: Engine, labels: Record<string, string>): Promise<Docker.ContainerInfo[]> {
  const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
  return engine.docker.listContainers({ all: true, filters: JSON.stringify(filters) });
}

export function managedLabels(extra: Record<string, string>): Record<string, string> {
  return { [LABEL.managed]: 'true', ...extra };
}

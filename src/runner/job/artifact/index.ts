// How the artifact comes back to this host: one module per way in this
// folder. `drop` (make system copies it into a directory of this host that
// the container can write; an engine on this kernel) falls back to
// `archive` (the Engine API's archive of the container's file; every engine;
// a small artifact instead comes in the exec steps' own stream: carried.ts),
// which checks the bytes against a sha256 computed in the container
// (digest.ts). Either way it is written under a temporary name and renamed
// (write-atomically.ts).
import type Docker from 'dockerode';
import type { StepRunner } from '../steps/runner.js';
import { writeCarried } from './carried.js';
import type { Step } from '../context.js';
import { ARTIFACT_STEP } from '../plan.js';
import { copyArtifactOut, type CopyOutOptions } from './archive.js';
import { withArtifactDigest } from './digest.js';
import { dropAfter, dropOwners, takeDroppedArtifact } from './drop.js';

export interface ArtifactRoute {
  /** The plan as this way needs it (the step that makes the artifact may also hand it over). */
  plan(steps: Step[]): Step[];
  /** Brings the artifact to `dest`, atomically; returns its size. An abort of `signal` stops it (nothing at `dest`). */
  fetch(container: Docker.Container, dest: string, signal: AbortSignal, onProgress?: CopyOutOptions['onProgress']): Promise<number>;
}

/**
 * `file` is the artifact's name, `inContainer` where make system writes it;
 * `runner` how the steps run (its drop dir, or the artifact it may carry).
 */
export function chooseArtifactRoute(
  artifact: { file: string; inContainer: string },
  runner: Pick<StepRunner, 'dropDir' | 'carry' | 'takeCarried'>,
): ArtifactRoute {
  const at = artifact.inContainer;
  const { dropDir } = runner;
  if (!dropDir) {
    runner.carry?.(at); // a small artifact comes back in the steps' own stream
    return {
      plan: (steps) => steps.map((s) => (s.name === ARTIFACT_STEP ? { ...s, cmd: withArtifactDigest(s.cmd, at) } : s)),
      fetch: async (container, dest, signal, onProgress) => {
        const carried = runner.takeCarried?.();
        if (carried) return writeCarried(carried, dest);
        return copyArtifactOut(container, at, dest, { verify: true, signal, ...(onProgress ? { onProgress } : {}) });
      },
    };
  }
  const drop = dropDir.dropPath(artifact.file);
  return {
    plan: (steps) => steps.map((s) => dropAfter(s, ARTIFACT_STEP, at, drop.inContainer)),
    // On this kernel the drop is a local copy: no digest to compute in the container; the fallback does without.
    fetch: async (container, dest, signal) =>
      (await takeDroppedArtifact(drop.onHost, dest, await dropOwners(container), signal)) ??
      (await copyArtifactOut(container, at, dest, { signal })),
  };
}

// How the artifact comes back to this host: one module per way in this
// folder. `drop` (make system copies it into a directory of this host that
// the container can write; an engine on this kernel) falls back to `archive`
// (the Engine API's archive of the container's file; every engine). Either
// way it is written under a temporary name and renamed (write-atomically.ts).
import type Docker from 'dockerode';
import type { DropDir } from '../steps/runner.js';
import type { Step } from '../context.js';
import { ARTIFACT_STEP } from '../plan.js';
import { copyArtifactOut } from './archive.js';
import { dropAfter, takeDroppedArtifact } from './drop.js';

export interface ArtifactRoute {
  /** The plan as this way needs it (the step that makes the artifact may also hand it over). */
  plan(steps: Step[]): Step[];
  /** Brings the artifact to `dest`, atomically; returns its size. */
  fetch(container: Docker.Container, dest: string): Promise<number>;
}

/** `file` is the artifact's name, `inContainer` where make system writes it. */
export function chooseArtifactRoute(artifact: { file: string; inContainer: string }, dropDir: DropDir | null): ArtifactRoute {
  const archive: ArtifactRoute = {
    plan: (steps) => steps,
    fetch: (container, dest) => copyArtifactOut(container, artifact.inContainer, dest),
  };
  if (!dropDir) return archive;
  const drop = dropDir.dropPath(artifact.file);
  return {
    plan: (steps) => steps.map((s) => dropAfter(s, ARTIFACT_STEP, artifact.inContainer, drop.inContainer)),
    fetch: async (container, dest) => (await takeDroppedArtifact(drop.onHost, dest)) ?? (await archive.fetch(container, dest)),
  };
}

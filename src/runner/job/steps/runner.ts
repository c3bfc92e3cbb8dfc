// What a step runner is: how the plan's steps run in the build container
// and how their output reaches build.log (one module per way beside this).
import type { JobMount } from '../../../engine/containers.js';
import type { OpenJob } from '../container.js';
import type { Step, StepResult } from '../context.js';
import type { OutputChoice } from './output-mode.js';
import type { StepLog } from './step-log.js';

/** A directory of this host that the build container can write into. */
export interface DropDir {
  dropPath(file: string): { inContainer: string; onHost: string };
}

export interface StepRunner {
  readonly choice: OutputChoice;
  /** Mounts this way of running needs in the build container. */
  readonly mounts: JobMount[];
  /** Where the container can leave a file for this host, if this way has such a place. */
  readonly dropDir: DropDir | null;
  /** Once the plan is known: the container's PID 1 (undefined: the plain keeper). */
  prepare(plan: Step[]): Promise<string[] | undefined>;
  /** Runs the plan in order, stopping at the first failure; returns the steps that ran. */
  run(plan: Step[], open: OpenJob, out: StepLog, signal: AbortSignal): Promise<StepResult[]>;
  /** Lets go of what prepare opened. */
  dispose(): void;
  /** Asks this way of running to hand the artifact over itself when it can (the exec driver: a small one). */
  carry?(artifactInContainer: string): void;
  /** The artifact as the steps handed it over, if they did (taken once). */
  takeCarried?(): CarriedFile | null;
}

/** A file the steps' driver handed over in its stream, with the sha256 computed in the container (null: none there). */
export interface CarriedFile {
  data: Buffer;
  sha256: string | null;
}

// What the stages of a build or archive job share: its kind and spec, the
// op's context (events, prompts, cancellation), the reporter, the engine,
// the build volume, build.log and the cleanup scope; and what a job returns.
import type { Engine } from '../../engine/connect.js';
import type { EngineVersion } from '../../engine/version.js';
import type { OpContext } from '../../protocol/op-context.js';
import type { BuildLog } from '../output/build-log.js';
import type { Reporter } from '../output/reporter.js';
import type { JobSpec } from '../spec.js';
import type { JobScope } from './scope.js';

export type JobKind = 'build' | 'archive';

export interface Job {
  readonly kind: JobKind;
  readonly spec: JobSpec;
  readonly op: OpContext;
  readonly reporter: Reporter;
  readonly scope: JobScope;
  readonly engine: Engine;
  /** The engine's version, once it met the requirement. */
  readonly version: Promise<EngineVersion>;
  readonly volume: string;
  readonly log: BuildLog;
  readonly started: number;
  /** The stage or step under way, named by errors. */
  stage: string;
}

/** One command of the plan, run in the build container's working directory. */
export interface Step {
  name: string;
  /** Shown as a header before the step runs. */
  header?: string;
  cmd: string[];
  /** NAME=value pairs for this step only. */
  env?: string[];
}

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
  /** How the inputs reached the container: bind mounts, or copies in volumes on the engine. */
  inputs: 'bind' | 'copy';
}

// How the plan's steps run in the build container and how their output
// reaches build.log: one module per way in this folder (the interface:
// runner.ts), fifo.ts (the container's own work, output through FIFOs:
// engines on this kernel) and exec.ts (the steps in one exec, output
// through the engine: every engine); output-mode.ts decides which, here.
import type { Engine } from '../../../engine/connect.js';
import { engineDebug } from '../../../engine/connect.js';
import type { EngineVersion } from '../../../engine/version.js';
import type { JobSpec } from '../../spec.js';
import type { Job } from '../context.js';
import type { JobScope } from '../scope.js';
import { execStepRunner } from './exec.js';
import { fifoStepRunner } from './fifo.js';
import { FifoOutput } from './fifo-output.js';
import { chooseOutputMode, fifoPossible } from './output-mode.js';
import type { StepRunner } from './runner.js';

export type { DropDir, StepRunner } from './runner.js';

export interface PendingStepRunner {
  /** The runner, once the engine's version says which way works. */
  choose(job: Job): Promise<StepRunner>;
}

/**
 * Starts the choice of a step runner: when the FIFO way may be taken, the
 * FIFOs are made at once (their directory's name is random and carries our
 * pid: nobody else's), while the engine answers and the lock is taken.
 */
export function beginStepRunner(spec: JobSpec, engine: Engine, version: Promise<EngineVersion>, scope: JobScope): PendingStepRunner {
  const made = fifoPossible(engine) && !spec.keep_container ? FifoOutput.create(spec.build_path) : null;
  if (made) {
    made.catch(() => {});
    // Removed after the reply (~15 ms); the sidecar does not exit before it is gone.
    scope.hold({
      label: 'step output FIFOs',
      close: () =>
        made.then(
          (f) => f.remove(),
          () => {},
        ),
      background: true,
    });
  }
  return {
    async choose(job) {
      const [fifo, v] = await Promise.allSettled([made ?? Promise.resolve(null), version]);
      if (v.status === 'rejected') throw v.reason;
      let choice = chooseOutputMode(engine, v.value);
      if (spec.keep_container && choice.mode === 'fifo') {
        // A kept container must start again later: no mount of a directory that goes away with the job.
        choice = { mode: 'exec', why: 'keep_container: the kept container must not mount a temporary directory' };
      }
      if (choice.mode === 'fifo' && fifo.status === 'rejected') {
        // A file system without FIFOs, say: the exec stream works everywhere.
        job.reporter.warn(`${(fifo.reason as Error).message}; streaming step output through the engine instead`);
        choice = { mode: 'exec', why: 'no FIFO could be made in the build path' };
      }
      engineDebug(`step output through ${choice.mode === 'fifo' ? 'a FIFO' : 'the exec stream'}: ${choice.why}`);
      if (choice.mode === 'fifo' && fifo.status === 'fulfilled' && fifo.value) return fifoStepRunner(choice, fifo.value, job);
      if (fifo.status === 'fulfilled') await fifo.value?.remove();
      return execStepRunner(choice);
    },
  };
}

// Steps as the build container's own work, their output through FIFOs
// (engines on this machine's kernel): no exec at all, the container's PID 1
// runs the plan (sequence.ts) and each step writes into a FIFO of the job's
// FIFO directory (fifo-output.ts), which the container also uses to drop
// the artifact for the host.
import { OpError } from '../../../errors.js';
import type { Job, Step, StepResult } from '../context.js';
import { containerGone } from '../failures.js';
import type { FifoOutput } from './fifo-output.js';
import type { StepRunner } from './runner.js';
import type { OutputChoice } from './output-mode.js';
import { prepareSequence, type PreparedSequence } from './sequence.js';

export function fifoStepRunner(choice: OutputChoice, fifo: FifoOutput, job: Job): StepRunner {
  let sequence: PreparedSequence | null = null;
  return {
    choice,
    mounts: [fifo.mount],
    dropDir: fifo,
    async prepare(plan: Step[]) {
      sequence = await prepareSequence(fifo, plan);
      return sequence.entrypoint;
    },
    async run(plan, open, out, signal) {
      if (!sequence) throw new Error('fifoStepRunner.run before prepare');
      const results = await sequence.run(
        {
          start: (i) => out.begin(plan[i]!),
          end: () => out.end(),
          warn: (t) => job.reporter.warn(t),
        },
        open.job.ended,
      );
      const steps: StepResult[] = results.map((r, i) => ({ name: plan[i]!.name, ...r }));
      // A step that did not finish: the container (or the driver) ended early.
      if (steps.length < plan.length && !steps.some((s) => s.status !== 0) && !signal.aborted) {
        const name = plan[steps.length]!.name;
        job.stage = name;
        await containerGone(job, open.job.id, name, 5000);
        throw new OpError(
          'step_driver_lost',
          `The runner lost track of the "${name}" step: the process that runs the steps in the build container ended (killed from outside?).`,
          `Rerun the ${job.kind}; the build volume ${job.volume} is kept, so it resumes. NERVES_DOCKER_TS_STEP_OUTPUT=exec runs the steps in an exec instead.`,
        );
      }
      return steps;
    },
    dispose: () => sequence?.dispose(),
  };
}

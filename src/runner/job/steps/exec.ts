// Steps as execs, one per step, their output through the engine's exec
// stream: works with every engine (remote, in a VM, rootless), at the cost
// of an exec (50-100 ms) per step and dockerd copying every byte.
import { runExec } from '../../../engine/exec.js';
import type { StepResult } from '../context.js';
import type { StepRunner } from './runner.js';
import type { OutputChoice } from './output-mode.js';

export function execStepRunner(choice: OutputChoice): StepRunner {
  return {
    choice,
    mounts: [],
    dropDir: null,
    prepare: async () => undefined, // the plain keeper
    async run(plan, open, out, signal) {
      const results: StepResult[] = [];
      for (const step of plan) {
        const sink = out.begin(step);
        const t0 = Date.now();
        const status = await runExec(open.job.container, { cmd: step.cmd, env: step.env, workingDir: open.layout.workingDir }, sink);
        await out.end();
        results.push({ name: step.name, seconds: (Date.now() - t0) / 1000, status });
        if (status !== 0 || signal.aborted) break;
      }
      return results;
    },
    dispose: () => {},
  };
}

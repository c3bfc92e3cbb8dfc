// Where the build runs and how everything reaches it: the inputs' transport,
// the layout, the plan, the artifact's way back, and the build container
// itself. When auto chose bind mounts and the created container shows that
// the engine does not see this machine's files after all, the container is
// removed and the same is done again with copied inputs and exec steps.
import type { ImageSummary } from '../../engine/images.js';
import { engineDebug } from '../../engine/connect.js';
import { chooseArtifactRoute, type ArtifactRoute } from './artifact/index.js';
import { openJobContainer, type OpenJob } from './container.js';
import type { Job, Step } from './context.js';
import { chooseInputs, fallBackToCopy, InputsNotVisible, type InputTransport } from './inputs/index.js';
import { computeLayout, type Layout } from './layout.js';
import { artifactFile, jobSteps } from './plan.js';
import { execStepRunner } from './steps/exec.js';
import type { StepRunner } from './steps/index.js';

export interface Placement {
  open: OpenJob;
  layout: Layout;
  inputs: InputTransport;
  runner: StepRunner;
  plan: Step[];
  route: ArtifactRoute;
  artifact: { file: string; inContainer: string };
}

export async function openBuildContainer(job: Job, image: Promise<ImageSummary | null>, runner: StepRunner): Promise<Placement> {
  const inputs = await chooseInputs(job);
  try {
    return await place(job, image, inputs.sharesHostFiles ? runner : copyingRunner(inputs), inputs);
  } catch (err) {
    if (!(err instanceof InputsNotVisible)) throw err;
    const copied = await fallBackToCopy(job, err);
    return place(job, image, copyingRunner(copied), copied);
  }
}

async function place(job: Job, image: Promise<ImageSummary | null>, runner: StepRunner, inputs: InputTransport): Promise<Placement> {
  const { kind, spec, volume } = job;
  engineDebug(`inputs: ${inputs.name} (${inputs.why})`);
  const layout = computeLayout(spec, volume, inputs);
  const artifact = artifactFile(spec, layout);
  const route = chooseArtifactRoute(artifact, runner);
  let plan: Step[] = [];
  const open = await openJobContainer(kind, spec, {
    ...{ engine: job.engine, image, volume, layout, inputs, scope: job.scope, reporter: job.reporter, log: job.log, ctx: job.op },
    extraMounts: runner.mounts,
    entrypoint: (img) => {
      plan = route.plan(jobSteps(kind, spec, layout, img.entrypoint));
      return runner.prepare(plan);
    },
  });
  return { open, layout, inputs, runner, plan, route, artifact };
}

/** Steps in an exec: copied inputs mean an engine that cannot share FIFOs with this machine either. The exec makes the inputs' checks. */
function copyingRunner(inputs: InputTransport): StepRunner {
  return execStepRunner({ mode: 'exec', why: "the inputs are copied: the engine does not see this machine's files" }, inputs.gated?.());
}

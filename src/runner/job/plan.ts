// The steps of a job, as upstream runs them: on old images a chown of the
// build volume first, then create-build.sh and make (builds only), then
// make system, which writes the artifact archive.
import type { JobSpec } from '../spec.js';
import type { JobKind, Step } from './context.js';
import type { Layout } from './layout.js';

/** The name of the step that writes the artifact. */
export const ARTIFACT_STEP = 'make system';

export function jobSteps(kind: JobKind, spec: JobSpec, layout: Layout, entrypoint: string[]): Step[] {
  const ep = (cmd: string[]) => [...entrypoint, ...cmd];
  const steps: Step[] = [];
  if (layout.legacy) {
    // Old images: make the volume belong to the host user (upstream runs this as root before each step).
    steps.push({ name: 'chown', cmd: ep(['chown', `${spec.uid}:${spec.gid}`, layout.workingDir]), env: ['UID=0', 'GID=0'] });
  }
  if (kind === 'build') {
    steps.push({
      name: 'create-build',
      header: 'Starting Build... (this may take a while)',
      cmd: ep(['/nerves/env/platform/create-build.sh', `/nerves/env/${spec.app}/${spec.defconfig}`, layout.workingDir]),
    });
    steps.push({ name: 'make', cmd: ep(['make', ...spec.make_args]) });
  }
  steps.push({
    name: ARTIFACT_STEP,
    header: 'Creating artifact archive',
    cmd: ep(['make', 'system', `NERVES_ARTIFACT_NAME=${spec.download_name}`]),
  });
  return steps;
}

/** The artifact's file name, and where make system writes it in the build container. */
export function artifactFile(spec: JobSpec, layout: Layout): { file: string; inContainer: string } {
  const file = `${spec.download_name}${spec.ext}`;
  return { file, inContainer: `${layout.workingDir}/${file}` };
}

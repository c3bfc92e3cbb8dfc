// Inputs copied into volumes on the engine, for engines that cannot see
// this machine's files (another host over ssh or tcp, Docker-in-Docker, a VM
// engine without that share): the platform and the package are sent as tar
// streams through the Engine API into volumes of their own (copy-sync.ts,
// sync/: only what changed since the last build), between the container's
// create and its start; Buildroot's downloads live in a volume shared by every system
// built on that engine; ~/.ssh is never copied (ssh_volume: gives the build
// host keys of its own).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { managedLabels, type JobMount } from '../../../engine/containers.js';
import { LABEL } from '../../../engine/labels.js';
import { ensureVolume } from '../../../engine/volumes.js';
import type { JobSpec } from '../../spec.js';
import { inputVolumes } from '../docker-id.js';
import { TreeSync } from './copy-sync.js';
import { DL_DIR, packageDir, PLATFORM_DIR, SSH_DIR, type InputsContext, type InputTransport } from './transport.js';

export type { InputsContext } from './transport.js';

/** Where Buildroot's downloads live on the engine when build_runner_opts names no downloads_volume. */
export const DEFAULT_DOWNLOADS_VOLUME = 'nerves-docker-ts-downloads';

/**
 * What is never sent. The package: its VCS, Mix's build and deps (the
 * platform is sent on its own) and Nerves' artifact dirs. The platform: the
 * same, and the Buildroot trees create-build.sh extracts into it (the
 * volume keeps its own).
 */
export const PACKAGE_EXCLUDES = ['.git', '/_build', '/deps', '/.nerves'];
export const PLATFORM_EXCLUDES = ['.git', '/_build', '/deps', '/.nerves', '/buildroot*'];

export async function copyInputs(job: InputsContext, why: string): Promise<InputTransport> {
  const { spec, engine } = job;
  const volumes = inputVolumes(job.volume);
  const labels = managedLabels({ [LABEL.package]: spec.app, [LABEL.buildPath]: spec.build_path, [LABEL.volume]: job.volume });
  await Promise.all([ensureVolume(engine, volumes.platform, labels), ensureVolume(engine, volumes.package, labels)]);
  const ssh = spec.home ? join(spec.home, '.ssh') : '';
  if (!spec.ssh_volume && ssh && existsSync(ssh)) {
    job.reporter.info(
      `${ssh} is not copied to the engine's host (private keys stay here); to fetch over ssh during the build, give that host keys of its own: build_runner_opts ssh_volume: "NAME", a volume there mounted read-only at ${SSH_DIR}.`,
    );
  }
  const sync = new TreeSync(job, [
    {
      what: 'platform',
      hostDir: spec.platform_path,
      root: PLATFORM_DIR,
      volume: volumes.platform,
      exclude: [...PLATFORM_EXCLUDES, ...spec.inputs_exclude],
    },
    {
      what: spec.app,
      hostDir: spec.pkg_path,
      root: packageDir(spec.app),
      volume: volumes.package,
      exclude: [...PACKAGE_EXCLUDES, ...spec.inputs_exclude],
    },
  ]);
  let trusting = false;
  return {
    name: 'copy',
    why,
    sharesHostFiles: false,
    mounts: (s: JobSpec): JobMount[] => [
      { type: 'volume', source: s.downloads_volume ?? DEFAULT_DOWNLOADS_VOLUME, target: DL_DIR },
      { type: 'volume', source: volumes.platform, target: PLATFORM_DIR },
      { type: 'volume', source: volumes.package, target: packageDir(s.app) },
      ...(s.ssh_volume ? [{ type: 'volume' as const, source: s.ssh_volume, target: SSH_DIR, readOnly: true }] : []),
    ],
    async beforeStart(container) {
      job.reporter.header('Copying the inputs to the engine');
      job.stage = 'copy inputs';
      await sync.send(container, trusting);
    },
    afterStart: (container) => sync.complete(container),
    gated() {
      trusting = true;
      return sync.gate();
    },
  };
}

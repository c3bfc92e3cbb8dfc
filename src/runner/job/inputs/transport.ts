// What an input transport is: how the system package, its platform, the
// download dir and ~/.ssh appear in the build container, at fixed places.
import type { JobMount } from '../../../engine/containers.js';
import type { JobSpec } from '../../spec.js';

/** Where the container finds the platform, the package and the download dir. */
export const PLATFORM_DIR = '/nerves/env/platform';
export const DL_DIR = '/nerves/dl';
export const SSH_DIR = '/home/nerves/.ssh';
export const packageDir = (app: string) => `/nerves/env/${app}`;

export interface InputTransport {
  readonly name: string;
  /** The mounts that make the inputs appear at PLATFORM_DIR, packageDir(app), DL_DIR (and SSH_DIR). */
  mounts(spec: JobSpec): JobMount[];
}

// Where things go inside the build container, as upstream decides it from
// nerves_system_br's version: working directory, environment, and the
// mounts (the build volume at the working directory, then the inputs as
// their transport brings them).
import { matchesRequirement, tryParseDockerVersion } from '../docker-version.js';
import type { JobMount } from '../../engine/containers.js';
import type { JobSpec } from '../spec.js';
import { bindInputs } from './inputs/bind.js';
import { DL_DIR, type InputTransport } from './inputs/transport.js';

export const NEW_IMAGE_WD = '/home/nerves/project';
export const LEGACY_WD = '/nerves/build';

export interface Layout {
  /** true for nerves_system_br < 1.28.0 (or unknown): /nerves/build and a chown to the host user. */
  legacy: boolean;
  workingDir: string;
  env: string[];
  mounts: JobMount[];
}

/** Upstream's new_docker_image?: the platform version is known and matches ">= 1.28.0" (Elixir's rules). */
export function isNewImage(platformVersion: string | null): boolean {
  const v = platformVersion ? tryParseDockerVersion(platformVersion) : null;
  return v !== null && matchesRequirement(v, '>= 1.28.0');
}

export function computeLayout(spec: JobSpec, volume: string, inputs: InputTransport = bindInputs): Layout {
  const legacy = !isNewImage(spec.platform_version);
  const workingDir = legacy ? LEGACY_WD : NEW_IMAGE_WD;
  const env = [`UID=${spec.uid}`, `GID=${spec.gid}`, `TERM=${spec.term}`, `NERVES_BR_DL_DIR=${DL_DIR}`];
  const mounts: JobMount[] = [{ type: 'volume', source: volume, target: workingDir }, ...inputs.mounts(spec)];
  return { legacy, workingDir, env, mounts };
}

// Where things go inside the build container, as upstream decides it from
// nerves_system_br's version: working directory, environment and mounts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { matchesRequirement, tryParseDockerVersion } from '../docker-version.js';
import type { JobMount } from '../../engine/containers.js';
import type { JobSpec } from '../spec.js';

export const NEW_IMAGE_WD = '/home/nerves/project';
export const LEGACY_WD = '/nerves/build';
export const DL_DIR = '/nerves/dl';

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

export function computeLayout(spec: JobSpec, volume: string): Layout {
  const legacy = !isNewImage(spec.platform_version);
  const workingDir = legacy ? LEGACY_WD : NEW_IMAGE_WD;
  const env = [`UID=${spec.uid}`, `GID=${spec.gid}`, `TERM=${spec.term}`, `NERVES_BR_DL_DIR=${DL_DIR}`];
  const mounts: JobMount[] = [
    { type: 'volume', source: volume, target: workingDir },
    spec.downloads_volume
      ? { type: 'volume', source: spec.downloads_volume, target: DL_DIR }
      : { type: 'bind', source: spec.download_dir, target: DL_DIR },
    { type: 'bind', source: spec.platform_path, target: '/nerves/env/platform' },
    { type: 'bind', source: spec.pkg_path, target: `/nerves/env/${spec.app}` },
  ];
  // Upstream mounts ~/.ssh even when it does not exist, and Docker then
  // refuses to start; here it is mounted only when present, and read-only.
  const ssh = spec.home ? join(spec.home, '.ssh') : '';
  if (ssh && existsSync(ssh)) mounts.push({ type: 'bind', source: ssh, target: '/home/nerves/.ssh', readOnly: true });
  return { legacy, workingDir, env, mounts };
}

// Inputs as bind mounts of this machine's directories: the engine must see
// them (an engine on this machine, or one that shares its files).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { JobMount } from '../../../engine/containers.js';
import type { JobSpec } from '../../spec.js';
import { DL_DIR, packageDir, PLATFORM_DIR, SSH_DIR, type InputTransport } from './transport.js';

export const bindInputs: InputTransport = {
  name: 'bind',
  mounts(spec: JobSpec): JobMount[] {
    const mounts: JobMount[] = [
      spec.downloads_volume ? { type: 'volume', source: spec.downloads_volume, target: DL_DIR } : { type: 'bind', source: spec.download_dir, target: DL_DIR },
      { type: 'bind', source: spec.platform_path, target: PLATFORM_DIR },
      { type: 'bind', source: spec.pkg_path, target: packageDir(spec.app) },
    ];
    // Upstream mounts ~/.ssh even when it does not exist, and Docker then
    // refuses to start; here it is mounted only when present, and read-only.
    const ssh = spec.home ? join(spec.home, '.ssh') : '';
    if (ssh && existsSync(ssh)) mounts.push({ type: 'bind', source: ssh, target: SSH_DIR, readOnly: true });
    return mounts;
  },
};

// Which way step output takes to build.log. The exec's attach stream goes
// through dockerd, which copies it onto the HTTP connection: 60-110 MB/s on
// this kind of machine. When the engine runs on this machine's kernel, steps
// instead write into FIFOs bind-mounted from this host (fifo.ts), several
// times faster. Remote engines and engines in a VM (Docker Desktop, podman
// machine) keep the exec stream (exec.ts). NERVES_DOCKER_TS_STEP_OUTPUT
// overrides.
import { release } from 'node:os';
import type { Engine } from '../../../engine/connect.js';
import type { EngineVersion } from '../../../engine/version.js';
import { OpError } from '../../../errors.js';
import { OUTPUT_ENV } from '../../output/fifo-reader.js';

export { OUTPUT_ENV };

export type OutputMode = 'fifo' | 'exec';

export interface OutputChoice {
  mode: OutputMode;
  why: string;
}

/** The FIFO path works only when the engine's containers run on our kernel and see our files. */
export function chooseOutputMode(
  engine: Pick<Engine, 'remote'>,
  version: Pick<EngineVersion, 'kernel'>,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  kernel: string = release(),
): OutputChoice {
  const forced = env[OUTPUT_ENV]?.trim();
  if (forced && forced !== 'auto') {
    if (forced !== 'fifo' && forced !== 'exec') {
      throw new OpError(
        'invalid_env',
        `${OUTPUT_ENV}=${forced} is not one of auto, fifo, exec.`,
        `Unset ${OUTPUT_ENV} or set it to auto, fifo or exec.`,
      );
    }
    return { mode: forced, why: `${OUTPUT_ENV}=${forced}` };
  }
  if (engine.remote) return { mode: 'exec', why: 'the engine is on another host' };
  if (platform !== 'linux') return { mode: 'exec', why: `the engine runs in a VM on ${platform}` };
  if (!version.kernel || version.kernel !== kernel) {
    return { mode: 'exec', why: `the engine's kernel (${version.kernel || 'unknown'}) is not this machine's (${kernel}): a VM` };
  }
  return { mode: 'fifo', why: 'the engine shares this kernel' };
}

/**
 * Whether chooseOutputMode may pick the FIFO path once the engine's kernel
 * is known (asked here as if it were this machine's): the FIFOs can be made
 * meanwhile. An invalid setting is reported by chooseOutputMode itself.
 */
export function fifoPossible(
  engine: Pick<Engine, 'remote'>,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): boolean {
  const kernel = release();
  try {
    return chooseOutputMode(engine, { kernel }, env, platform, kernel).mode === 'fifo';
  } catch {
    return false;
  }
}

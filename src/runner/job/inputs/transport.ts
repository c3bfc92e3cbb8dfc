// What an input transport is: how the system package, its platform, the
// download dir and ~/.ssh appear in the build container, at fixed places,
// and what it does around the container's start.
import type Docker from 'dockerode';
import type { JobMount } from '../../../engine/containers.js';
import type { JobSpec } from '../../spec.js';
import type { Job } from '../context.js';

/** What a transport needs of the job (the shell has these too). */
export type InputsContext = Pick<Job, 'spec' | 'engine' | 'volume' | 'reporter' | 'scope' | 'op' | 'stage'>;

/**
 * What the build's step driver checks before the first step, for a
 * transport that trusted this machine's record of the volumes instead of
 * reading them (copy: sync/host-record.ts), and the way back when a check
 * fails.
 */
export interface InputsGate {
  /** Files (readable by the build's user) that must hold exactly `content`. */
  checks(): Array<{ path: string; content: string }>;
  /** A check failed: do in the running container what the record let the transport skip. */
  recover(container: Docker.Container): Promise<void>;
}

/** Where the container finds the platform, the package and the download dir. */
export const PLATFORM_DIR = '/nerves/env/platform';
export const DL_DIR = '/nerves/dl';
export const SSH_DIR = '/home/nerves/.ssh';
export const packageDir = (app: string) => `/nerves/env/${app}`;

export interface InputTransport {
  readonly name: 'bind' | 'copy';
  /** Why this one: a line for NERVES_DEBUG, doctor and the fall-back notice. */
  readonly why: string;
  /** The engine sees this machine's files: other host directories (the step output FIFOs) may be bind-mounted too. */
  readonly sharesHostFiles: boolean;
  /** Auto chose it without being sure: a bind the engine turns out not to see falls back to copying. */
  readonly checked?: boolean;
  /** The mounts that make the inputs appear at PLATFORM_DIR, packageDir(app), DL_DIR (and SSH_DIR). */
  mounts(spec: JobSpec): JobMount[];
  /** Between the container's create and its start (throws InputsNotVisible when a checked bind is not seen). */
  beforeStart?(container: Docker.Container): Promise<void>;
  /** Once the container runs, before the first step. */
  afterStart?(container: Docker.Container): Promise<void>;
  /**
   * Called before the container is made by a caller whose steps make the
   * gate's checks (the build's exec steps): the transport may then skip
   * what the checks cover.
   */
  gated?(): InputsGate;
}

/**
 * The engine does not see this machine's `path` where a bind mount needs it
 * (another host, a VM without that share, another mount namespace, or a
 * same-named directory elsewhere): auto switches to copying.
 */
export class InputsNotVisible extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`the engine does not see ${path}: ${reason}`);
  }
}

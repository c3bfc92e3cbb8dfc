// What engine answers and which version it is (GET /version), telling Docker
// from Podman: Podman's answer lists a "Podman Engine" component.
import type { Engine } from './connect.js';
import { engineUnavailable } from './errors.js';

export interface EngineVersion {
  engine: 'docker' | 'podman';
  version: string;
  apiVersion: string;
  os: string;
  arch: string;
  /** The engine host's kernel release (uname -r), '' when not given. */
  kernel: string;
}

interface VersionAnswer {
  Version?: string;
  ApiVersion?: string;
  Os?: string;
  Arch?: string;
  KernelVersion?: string;
  Components?: Array<{ Name?: string; Version?: string }>;
}

export function classifyVersion(v: VersionAnswer): EngineVersion {
  const podman = v.Components?.find((c) => /podman/i.test(c.Name ?? ''));
  return {
    engine: podman ? 'podman' : 'docker',
    version: (podman?.Version ?? v.Version ?? '').trim(),
    apiVersion: v.ApiVersion ?? '',
    os: v.Os ?? '',
    arch: v.Arch ?? '',
    kernel: v.KernelVersion ?? '',
  };
}

export async function engineVersion(engine: Engine): Promise<EngineVersion> {
  try {
    return classifyVersion((await engine.docker.version()) as VersionAnswer);
  } catch (err) {
    throw engineUnavailable(engine.where, err);
  }
}

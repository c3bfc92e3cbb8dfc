// What engine answers and which version it is (GET /version), telling Docker
// from Podman: Podman's answer lists a "Podman Engine" component. The answer
// also fixes the Engine API version of every later request, as the docker CLI
// negotiates it: the engine's own, or the newest the runner knows if the
// engine's is newer (requests made before the answer go unversioned).
import type { Engine } from './connect.js';
import { engineUnavailable } from './errors.js';
import { OpError } from '../errors.js';

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

/** The oldest Engine API the runner speaks: HostConfig.Mounts, AutoRemove and NanoCpus came with 1.25 (Docker 1.13). */
export const MIN_API_VERSION = '1.25';
/** The newest Engine API the runner was checked against (dockerd 26.1.5). */
export const MAX_API_VERSION = '1.45';

/** "1.41" as [1, 41]; null when it is not MAJOR.MINOR. */
function apiParts(v: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)$/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2])] : null;
}

function apiLess(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/**
 * The API version to pin requests to for an engine that speaks `engineApi`:
 * the lower of it and MAX_API_VERSION; null when it cannot be pinned (an
 * answer without a version, or one older than MIN_API_VERSION: see apiVersionProblem).
 */
export function negotiateApiVersion(engineApi: string): string | null {
  const v = apiParts(engineApi);
  if (!v || apiLess(v, apiParts(MIN_API_VERSION)!)) return null;
  return apiLess(apiParts(MAX_API_VERSION)!, v) ? MAX_API_VERSION : `${v[0]}.${v[1]}`;
}

/** Why the runner cannot work with this engine's API (too old), or null. */
export function apiVersionProblem(v: Pick<EngineVersion, 'engine' | 'version' | 'apiVersion'>): string | null {
  const api = apiParts(v.apiVersion);
  if (!api || !apiLess(api, apiParts(MIN_API_VERSION)!)) return null;
  return `${v.engine} ${v.version} speaks Engine API ${v.apiVersion}; the runner needs API ${MIN_API_VERSION} or newer (Docker 1.13 or newer, Podman 4 or newer)`;
}

/** Characters of a foreign answer quoted in the error: enough to recognise it, never a page. */
const QUOTED = 60;

/**
 * What an answer to GET /version that is not an engine's said, briefly (an
 * HTTP server that is not Docker at DOCKER_HOST answers 200 with its own
 * page); null for an engine's answer (a JSON object with a Version or an
 * ApiVersion).
 */
export function foreignVersionAnswer(answer: unknown): string | null {
  if (answer !== null && typeof answer === 'object' && !Buffer.isBuffer(answer) && !Array.isArray(answer)) {
    const a = answer as VersionAnswer;
    if ((typeof a.Version === 'string' && a.Version) || (typeof a.ApiVersion === 'string' && a.ApiVersion)) return null;
    const keys = Object.keys(a);
    const shown = keys.slice(0, 5).join(', ') + (keys.length > 5 ? ', …' : '');
    return `JSON without a Version or ApiVersion (${keys.length ? `keys: ${shown}` : 'an empty object'})`;
  }
  if (Array.isArray(answer)) return 'a JSON list';
  const text = Buffer.isBuffer(answer) ? answer.toString('utf8') : typeof answer === 'string' ? answer : String(answer);
  if (text.trim() === '') return 'nothing';
  const chars = [...text];
  if (chars.length <= QUOTED) return JSON.stringify(text);
  const bytes = Buffer.isBuffer(answer) ? answer.length : Buffer.byteLength(text);
  return `${JSON.stringify(chars.slice(0, QUOTED).join(''))}… (${bytes} bytes)`;
}

/** GET /version; an abort of `signal` destroys the request (the ping failed: nobody waits for this answer). */
export async function engineVersion(engine: Engine, signal?: AbortSignal): Promise<EngineVersion> {
  let raw: unknown;
  try {
    // dockerode's types omit version's options; it passes abortSignal on to the request.
    const version = engine.docker.version as unknown as (opts: { abortSignal?: AbortSignal }) => Promise<unknown>;
    raw = await version.call(engine.docker, signal ? { abortSignal: signal } : {});
  } catch (err) {
    throw engineUnavailable(engine.where, err);
  }
  const foreign = foreignVersionAnswer(raw);
  if (foreign !== null) {
    throw new OpError(
      'engine_answer',
      `${engine.where} does not answer like a Docker engine: GET /version answered ${foreign}, not its version`,
      `Check that DOCKER_HOST, or the current Docker context (\`docker context ls\`, DOCKER_CONTEXT), names a Docker or Podman engine's API, not another server (this address came from: ${engine.how}).`,
    );
  }
  const answer = classifyVersion(raw as VersionAnswer);
  const pinned = negotiateApiVersion(answer.apiVersion);
  // docker-modem prefixes every path with its `version` (/v1.41/containers/...).
  if (pinned) (engine.docker.modem as { version?: string }).version = `v${pinned}`;
  return answer;
}

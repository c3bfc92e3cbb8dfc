// Checks on the host before anything is created: the paths the build mounts
// exist, the defconfig is there, the download dir can be written, the
// resource limits the environment sets are valid, and the engine answers
// with a version that meets the requirement.
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { engineDebug, openEngine, pingEngine, pingTimedOut, type Engine } from '../../engine/connect.js';
import { apiVersionProblem, engineVersion, type EngineVersion } from '../../engine/version.js';
import { OpError } from '../../errors.js';
import { checkEngineVersion, requirementText } from '../docker-version.js';
import type { JobSpec } from '../spec.js';
import { resourceLimits } from './limits.js';

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

/** opts.limits false: the environment's limits are not read (doctor checks them on their own). */
export async function checkHostInputs(spec: JobSpec, kind: 'build' | 'archive' | 'shell', opts: { limits?: boolean } = {}): Promise<void> {
  if (opts.limits !== false) resourceLimits(spec); // NERVES_DOCKER_TS_CPUS / NERVES_DOCKER_TS_MEMORY: an invalid value names its variable
  if (!(await isDir(spec.pkg_path))) {
    throw new OpError('invalid_spec', `the package directory ${spec.pkg_path} does not exist`);
  }
  if (!(await isDir(spec.platform_path))) {
    throw new OpError(
      'platform_missing',
      `the platform (nerves_system_br) directory ${spec.platform_path} does not exist`,
      'Run `mix deps.get`, and check that the system depends on nerves_system_br.',
    );
  }
  if (kind !== 'archive') {
    const defconfig = join(spec.pkg_path, spec.defconfig);
    if (!(await stat(defconfig).catch(() => null))?.isFile()) {
      throw new OpError(
        'defconfig_missing',
        `the defconfig ${defconfig} does not exist`,
        'Set nerves_package platform_config: [defconfig: "nerves_defconfig"] to a file in the package.',
      );
    }
    const createBuild = join(spec.platform_path, 'create-build.sh');
    if (!(await stat(createBuild).catch(() => null))?.isFile()) {
      throw new OpError(
        'platform_missing',
        `the platform has no create-build.sh (${createBuild})`,
        'Check the nerves_system_br dependency.',
      );
    }
  }
  if (!spec.downloads_volume) {
    try {
      await mkdir(spec.download_dir, { recursive: true });
      await access(spec.download_dir, constants.W_OK);
    } catch (err) {
      throw new OpError(
        'download_dir',
        `the download directory ${spec.download_dir} cannot be written: ${(err as Error).message}`,
        'Set NERVES_DL_DIR to a directory you can write, or fix its permissions.',
      );
    }
  }
}

/** An engine being connected to: its round trips run while the caller does other work. */
export interface EngineConnection {
  engine: Engine;
  /** The engine answered a ping. */
  answered: Promise<void>;
  /** Its version, once it meets the requirement (rejects after `answered` does, if that fails). */
  version: Promise<EngineVersion>;
}

/**
 * Finds the engine (NERVES_DEBUG=1 prints how) and starts the checks of
 * connectChecked without waiting for them: GET /version alone takes about
 * 30 ms on dockerd (it asks containerd and runs runc for their versions),
 * which a job overlaps with its host-side checks and its first requests.
 * Both promises are awaited by the caller or settle unobserved harmlessly.
 */
export function beginConnect(): EngineConnection {
  const { engine, ping, answer } = takeProbe();
  const answered = ping;
  const version = (async () => {
    // A ping failure is the one to report (it names the address and the fix).
    await answered;
    return checkedVersion(engine, await answer);
  })();
  for (const p of [ping, answer, answered, version]) p.catch(() => {});
  return { engine, answered, version };
}

/** The engine the environment names, with a ping and GET /version under way. */
interface Probe {
  engine: Engine;
  ping: Promise<void>;
  answer: Promise<EngineVersion>;
  at: number;
}

function probe(): Probe {
  const engine = openEngine();
  const ping = pingEngine(engine);
  return { engine, ping, answer: versionUnlessSilent(ping, (signal) => engineVersion(engine, signal)), at: Date.now() };
}

/** `ask` (GET /version), its request destroyed once `ping` fails: an engine that said nothing to the ping would keep it, and the process, waiting. */
function versionUnlessSilent(ping: Promise<void>, ask: (signal: AbortSignal) => Promise<EngineVersion>): Promise<EngineVersion> {
  const stop = new AbortController();
  ping.catch(() => stop.abort());
  const answer = ask(stop.signal);
  answer.catch(() => {});
  return answer;
}

/** How long a warm-up's answers serve the next op: it normally asks within 0.1 s of the hello. */
const WARM_MS = 3000;
let warm: Probe | null = null;

/**
 * Starts the engine's ping and GET /version before any op asks (the sidecar
 * calls this right after its hello, while the rest of the runner loads and
 * the plugin sends its request); the next connection takes them over.
 */
export function warmUpEngine(): void {
  try {
    warm = probe();
  } catch {
    warm = null; // a bad DOCKER_HOST, say: the op reports it
  }
}

function takeProbe(): Probe {
  const w = warm;
  warm = null;
  if (!w || Date.now() - w.at > WARM_MS) return probe();
  // An engine that was not up at the warm-up may be now: a failure is retried once, fresh. Not a
  // ping that got no answer within its deadline: asking again would double the wait its error names.
  const ping = w.ping.catch((err: unknown) => {
    if (pingTimedOut(err)) throw err;
    return pingEngine(w.engine);
  });
  ping.catch(() => {});
  const answer = versionUnlessSilent(ping, (signal) => w.answer.catch(() => engineVersion(w.engine, signal)));
  return { ...w, ping, answer };
}

/**
 * Finds the engine (NERVES_DEBUG=1 prints how), checks that it answers and
 * that its version meets the requirement. Whether it sees this machine's
 * files is for the inputs to find out (job/inputs/).
 */
export async function connectChecked(): Promise<{ engine: Engine; version: EngineVersion }> {
  const c = beginConnect();
  return { engine: c.engine, version: await c.version };
}

function checkedVersion(engine: Engine, version: EngineVersion): EngineVersion {
  engineDebug(
    `${engine.where} (${engine.how}) is ${version.engine} ${version.version}, API ${version.apiVersion}, ${version.os}/${version.arch}`,
  );
  const check = checkEngineVersion({ version: version.version, engine: version.engine });
  if (!check.ok) throw new OpError('engine_version', check.message, `Install ${requirementText(version.engine)}.`);
  const api = apiVersionProblem(version);
  if (api) throw new OpError('engine_version', api, `Upgrade the engine to ${requirementText(version.engine)}.`);
  return version;
}

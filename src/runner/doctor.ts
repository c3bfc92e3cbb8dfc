// doctor: checks everything a build needs and says, for each failed check,
// the command that fixes it. Given the job spec, it checks what the next
// build will do with the build's own code (preflight's host checks, the
// image plan) and fails only where that build would fail; without an engine
// it still runs the checks that need none.
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import semverGte from 'semver/functions/gte.js';
import { engineLocality, openEngine, pingEngine, type Engine } from '../engine/connect.js';
import { inspectImage } from '../engine/images.js';
import { isImageReference } from '../image/reference.js';
import { apiVersionProblem, engineVersion, type EngineVersion } from '../engine/version.js';
import { describeLimits, formatMemory, resourceLimits, CPUS_ENV, MEMORY_ENV } from './job/limits.js';
import { OpError } from '../errors.js';
import { chooseOutputMode } from './job/steps/output-mode.js';
import { checkEngineVersion, requirementText } from './docker-version.js';
import { planJobImage } from './job/image-source.js';
import { checkHostInputs } from './job/preflight.js';
import type { JobSpec } from './spec.js';
import { inputsMode } from './job/inputs/index.js';
import { formatBytes } from './output/reporter.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  /** The image to look for, when there is no spec. */
  image?: string | undefined;
  /** The system's job spec: the image plan and the host inputs (defconfig, platform, download dir) are checked as a build checks them. */
  spec?: JobSpec | undefined;
  home?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/** Free space below which a Buildroot build is likely to fail. */
export const MIN_FREE_BYTES = 20 * 1024 ** 3;

export async function runDoctor(opts: DoctorOptions = {}): Promise<Check[]> {
  const env = opts.env ?? process.env;
  const spec = opts.spec;
  const checks: Check[] = [nodeCheck()];
  if (spec) checks.push(await systemCheck(spec));
  // Checked before the engine sees it: a reference ends up in the Engine API's URL path.
  const badImage = !spec && opts.image !== undefined ? imageReferenceCheck(opts.image) : null;
  const answered = await engineCheck(env, checks);
  let rootless: boolean | null = null;
  if (answered) {
    const { engine, version } = answered;
    checks.push(versionCheck(version), outputCheck(engine, version, env), await inputsCheck(engine, env));
    const info = (await engine.docker.info()) as EngineInfo;
    checks.push(await diskCheck(info.DockerRootDir ?? ''), limitsCheck(info, env));
    if (spec) checks.push(await jobImageCheck(engine, spec));
    else if (opts.image !== undefined && !badImage) checks.push(await imageCheck(engine, opts.image));
    rootless = (info.SecurityOptions ?? []).some((o) => o.includes('rootless'));
  } else {
    checks.push({
      name: 'disk',
      ok: true,
      detail: "the engine's data root is not known while the engine does not answer; its free space is not checked",
    });
  }
  if (badImage) checks.push(badImage);
  if (spec && !spec.downloads_volume) checks.push(await downloadDiskCheck(spec.download_dir));
  checks.push(sshCheck(join(opts.home ?? homedir(), '.ssh')), uidCheck(rootless));
  return checks;
}

/** The build's own host checks (preflight.ts): the package, the platform, the defconfig, the download dir. */
async function systemCheck(spec: JobSpec): Promise<Check> {
  try {
    await checkHostInputs(spec, 'build', { limits: false }); // the limits check says what is wrong with them, once
    return {
      name: 'system',
      ok: true,
      detail: `${spec.app}: defconfig ${join(spec.pkg_path, spec.defconfig)} and the platform ${spec.platform_path} are there`,
    };
  } catch (err) {
    return { name: 'system', ok: false, detail: (err as Error).message, fix: (err as { hint?: string | null }).hint ?? undefined };
  }
}

/** The oldest Node the package supports: package.json's engines field says the same (a unit test holds them together). */
export const MIN_NODE = '20.19.0';

export function nodeCheck(version = process.versions.node): Check {
  const nodeOk = semverGte(version, MIN_NODE);
  return {
    name: 'node',
    ok: nodeOk,
    detail: `Node v${version} at ${process.execPath}`,
    fix: nodeOk ? undefined : `Install Node ${MIN_NODE.replace(/\.0$/, '')} or newer, or point NERVES_DOCKER_TS_NODE at one.`,
  };
}

/** The engine and its version, when it answers as an engine does (its check is pushed either way). */
async function engineCheck(env: NodeJS.ProcessEnv, checks: Check[]): Promise<{ engine: Engine; version: EngineVersion } | null> {
  try {
    const engine = openEngine(env);
    await pingEngine(engine, 5000);
    // Another HTTP server at the address answers the ping too: its GET /version says it is not an engine.
    const version = await engineVersion(engine);
    // How it was found: DOCKER_HOST, context NAME, rootless/default/podman socket (NERVES_DEBUG=1 shows the search).
    const locality = await engineLocality(engine, env);
    // An engine on another host is fine: builds copy their inputs to it (see the inputs check).
    checks.push({
      name: 'engine',
      ok: true,
      detail: `answers at ${engine.where} (${engine.how})${engine.via ? ` ${engine.via}` : ''}${engine.remote ? `; ${locality.reason}` : ''}`,
    });
    return { engine, version };
  } catch (err) {
    checks.push({
      name: 'engine',
      ok: false,
      detail: (err as Error).message,
      fix:
        (err as { hint?: string | null }).hint ??
        'Start the engine (`sudo systemctl start docker`, Docker Desktop, colima), or run scripts/docker-engine, or set DOCKER_HOST.',
    });
    return null;
  }
}

function versionCheck(version: EngineVersion): Check {
  const api = apiVersionProblem(version);
  if (api) return { name: 'engine version', ok: false, detail: api, fix: `Upgrade the engine to ${requirementText(version.engine)}.` };
  const v = checkEngineVersion({ version: version.version, engine: version.engine });
  return {
    name: 'engine version',
    ok: v.ok,
    detail: v.ok
      ? `${version.engine} ${version.version} (API ${version.apiVersion}, ${version.os}/${version.arch}); the runner needs ${requirementText(version.engine)}`
      : v.message,
    fix: v.ok ? undefined : `Upgrade to ${requirementText(version.engine)}.`,
  };
}

function outputCheck(engine: Engine, version: EngineVersion, env: NodeJS.ProcessEnv): Check {
  try {
    const out = chooseOutputMode(engine, version, env);
    return {
      name: 'step output',
      ok: true,
      detail: out.mode === 'fifo' ? `through FIFOs (${out.why})` : `through the exec stream (${out.why})`,
    };
  } catch (err) {
    return { name: 'step output', ok: false, detail: (err as Error).message, fix: (err as { hint?: string | null }).hint ?? undefined };
  }
}

/** The parts of GET /info doctor reads. */
interface EngineInfo {
  DockerRootDir?: string;
  SecurityOptions?: string[];
  MemoryLimit?: boolean;
  SwapLimit?: boolean;
  CpuCfsQuota?: boolean;
  CgroupVersion?: string;
  NCPU?: number;
  MemTotal?: number;
}

/** The limits the environment sets (build_runner_opts add theirs per system), and whether the engine can enforce them. */
function limitsCheck(info: EngineInfo, env: NodeJS.ProcessEnv): Check {
  // Every invalid variable is named (resourceLimits reads both before it fails).
  let limits: ReturnType<typeof resourceLimits>;
  try {
    limits = resourceLimits({ cpus: null, memory: null }, env);
  } catch (err) {
    if (!(err instanceof OpError)) throw err;
    return { name: 'limits', ok: false, detail: err.message, ...(err.hint ? { fix: err.hint } : {}) };
  }
  const host = `${info.NCPU ?? '?'} CPUs, ${info.MemTotal ? formatMemory(info.MemTotal) : '? bytes'}, cgroup v${info.CgroupVersion ?? '?'}`;
  const cannot = [info.MemoryLimit === false && 'memory', info.SwapLimit === false && 'swap', info.CpuCfsQuota === false && 'CPU'].filter(
    (x): x is string => !!x,
  );
  const enforce =
    cannot.length === 0
      ? 'enforces memory, swap and CPU limits'
      : `cannot enforce ${cannot.join(', ')} limits (they would be dropped with a warning)`;
  // Each problem with its own fix: more CPUs than the host has is not a cgroup matter.
  const problems: Array<{ problem: string; fix: string }> = [];
  if (limits.memory !== null && (info.MemoryLimit === false || info.SwapLimit === false))
    problems.push({
      problem: `${MEMORY_ENV} is set but the engine cannot enforce it`,
      fix: `Unset ${MEMORY_ENV}, or use an engine with cgroup memory limits (cgroup v2, or swap accounting enabled: swapaccount=1 on the kernel command line).`,
    });
  if (limits.cpus !== null && info.CpuCfsQuota === false)
    problems.push({
      problem: `${CPUS_ENV} is set but the engine cannot enforce it`,
      fix: `Unset ${CPUS_ENV}, or use an engine with CPU quotas (cgroup v2, or a kernel with CFS bandwidth control).`,
    });
  if (limits.cpus !== null && info.NCPU !== undefined && limits.cpus > info.NCPU)
    problems.push({
      problem: `${CPUS_ENV}=${limits.cpus} is more than the engine host's ${info.NCPU} CPUs (the engine refuses it)`,
      fix: `Set ${CPUS_ENV} to at most ${info.NCPU} (the engine host has ${info.NCPU} CPUs), or unset it.`,
    });
  return {
    name: 'limits',
    ok: problems.length === 0,
    detail: `${describeLimits(limits)} in this environment (build_runner_opts cpus and memory add theirs per system); the engine (${host}) ${enforce}${problems.length ? `; ${problems.map((p) => p.problem).join('; ')}` : ''}`,
    fix: problems.length === 0 ? undefined : problems.map((p) => p.fix).join(' '),
  };
}

/** How a build's inputs will reach the container (auto, unless NERVES_DOCKER_TS_INPUTS or the system's inputs: say otherwise). */
async function inputsCheck(engine: Engine, env: NodeJS.ProcessEnv): Promise<Check> {
  try {
    const { mode, by } = inputsMode({ inputs: 'auto' }, env);
    if (mode !== 'auto') return { name: 'inputs', ok: true, detail: `${mode} (${by})` };
    const where = await engineLocality(engine, env);
    return {
      name: 'inputs',
      ok: true,
      detail: where.local
        ? `bind mounts, checked at each build with a token file (${where.reason}); copied into volumes if the engine does not see them`
        : `copied into volumes on the engine (${where.reason}); only what changed is sent again`,
    };
  } catch (err) {
    return { name: 'inputs', ok: false, detail: (err as Error).message, fix: (err as { hint?: string | null }).hint ?? undefined };
  }
}

async function diskCheck(root: string): Promise<Check> {
  if (!root || !existsSync(root)) {
    return {
      name: 'disk',
      ok: true,
      detail: `the engine's data root ${root || '(unknown)'} is not on this machine; free space not checked`,
    };
  }
  const fs = await statfs(root);
  const free = fs.bavail * fs.bsize;
  return {
    name: 'disk',
    ok: free >= MIN_FREE_BYTES,
    detail: `${formatBytes(free)} free in the engine's data root ${root}`,
    fix:
      free >= MIN_FREE_BYTES ? undefined : 'Free space: `docker system prune` removes stopped containers, unused images and build cache.',
  };
}

/** A failed image check for a string that is not an image reference (it is never looked up), else null. */
function imageReferenceCheck(image: string): Check | null {
  if (isImageReference(image)) return null;
  return {
    name: 'image',
    ok: false,
    detail: `${JSON.stringify(image)} is not a valid image reference; it was not looked up`,
    fix: 'Give the image as build_runner_config[:docker] takes its tag: name:tag (lowercase name), or name@sha256:<64 hex digits>.',
  };
}

/** With only a tag: whether it is here (how the next build gets it is for the spec to say). */
async function imageCheck(engine: Engine, image: string): Promise<Check> {
  const img = await inspectImage(engine, image);
  return {
    name: 'image',
    ok: true,
    detail: img
      ? `${image} is present (${img.id.slice(7, 19)})`
      : `${image} is not present: the next build gets it as build_runner_config[:docker] says (pass the job spec, --spec FILE, to see how)`,
  };
}

/** What the next build does for its image, decided by the build's own code (image-source.ts). */
async function jobImageCheck(engine: Engine, spec: JobSpec): Promise<Check> {
  const tag = spec.docker.tag;
  const plan = await planJobImage(spec, await inspectImage(engine, tag));
  switch (plan.kind) {
    case 'local':
      return { name: 'image', ok: true, detail: `${tag} is present (${plan.image.id.slice(7, 19)})` };
    case 'load':
      return { name: 'image', ok: true, detail: `${tag} is not present: the next build loads it from the archive ${plan.archive}` };
    case 'pull':
      return {
        name: 'image',
        ok: true,
        detail: `${tag} is not present: the next build pulls it from its registry (pinned by digest, it must come from there)`,
      };
    case 'pull_or_build':
      return {
        name: 'image',
        ok: true,
        detail: `${tag} is not present: the next build pulls it, or else builds it from ${join(plan.context, plan.dockerfile)} after asking (NERVES_DOCKER_TS_YES=1 or --yes answers yes)`,
      };
    case 'pull_or_fail':
      return {
        name: 'image',
        ok: false,
        detail: `${tag} is not present, and unless a registry gives it the next build fails: ${plan.error.message}`,
        fix: plan.error.hint ?? undefined,
      };
  }
}

/** Free space where the build's downloads go (on this machine; the engine is not needed). */
async function downloadDiskCheck(dir: string): Promise<Check> {
  const fs = await statfs(dir).catch(() => null);
  if (!fs) return { name: 'download dir disk', ok: true, detail: `${dir} does not exist yet; free space not checked` };
  const free = fs.bavail * fs.bsize;
  return { name: 'download dir disk', ok: true, detail: `${formatBytes(free)} free in the download dir ${dir}` };
}

function sshCheck(ssh: string): Check {
  return {
    name: 'ssh',
    ok: true,
    detail: existsSync(ssh)
      ? `${ssh} is mounted read-only at /home/nerves/.ssh`
      : `${ssh} does not exist; builds that fetch over ssh will lack keys`,
  };
}

/** rootless: null when the engine did not answer (unknown). */
function uidCheck(rootless: boolean | null): Check {
  const uid = process.getuid?.() ?? 0;
  return {
    name: 'uid/gid',
    ok: true,
    detail: rootless
      ? `rootless engine: container root is your user (uid ${uid}); files in bind mounts belong to you`
      : `host uid ${uid}, gid ${process.getgid?.() ?? 0} are passed as UID/GID; new-style images run as their own user (nerves, 1005)${rootless === null ? ' (on a rootless engine, container root is your user)' : ''}`,
  };
}

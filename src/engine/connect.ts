// Finds the engine (see discovery.ts for the order: DOCKER_HOST, the current
// Docker context, rootless, default, Docker Desktop and Podman sockets),
// builds the dockerode client with explicit options, and checks that it
// answers. Errors name the address and how it was found. NERVES_DEBUG=1
// prints what discovery looked at.
import { hostname } from 'node:os';
import type DockerT from 'dockerode';
import Docker from './dockerode.js';
import { OpError } from '../errors.js';
import { notice } from '../protocol/notice.js';
import { discoverEngine, dockerodeOptions, envFlag, isRemoteEndpoint, type DiscoveryOptions, type Endpoint } from './discovery.js';
import { engineMessage, engineUnavailable, sshUnavailable } from './errors.js';
import { sshClientOptions } from './ssh/client-options.js';
import { sshCommandLine } from './ssh/target.js';

export { DEFAULT_SOCKET } from './discovery.js';

export interface Engine {
  docker: Docker;
  /** Where the engine is, e.g. unix:///var/run/docker.sock or tcp://127.0.0.1:2376. */
  where: string;
  /** How it was found: "DOCKER_HOST", "context colima", "rootless socket", "default socket", "podman rootful socket", ... */
  how: string;
  endpoint: Endpoint;
  /** On another machine by its address (tcp/ssh to a host that is not this one): it cannot see this host's files. */
  remote: boolean;
  /** Named by the user (DOCKER_HOST or a context) rather than found. */
  explicit: boolean;
  /** Sockets looked for and not found, when the default socket was taken for lack of any. */
  missing: string[];
  /** How an ssh:// engine is reached (the system ssh client or the built-in one), for NERVES_DEBUG=1 and doctor. */
  via?: string | undefined;
  /** An ssh:// engine is reached through the system ssh client. */
  systemSsh?: boolean | undefined;
}

/** A diagnostic line for NERVES_DEBUG=1: to the user's terminal when the plugin gave us one, else stderr. */
export function engineDebug(line: string, env: NodeJS.ProcessEnv = process.env): void {
  if (!envFlag(env.NERVES_DEBUG)) return;
  const text = `nerves_docker_ts: engine: ${line}`;
  if (!notice(text, env)) process.stderr.write(`${text}\n`);
}

/** The address of the engine the environment names (without contacting it). */
export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return discoverEngine({ env }).chosen.where;
}

/**
 * docker-modem reads DOCKER_HOST (and opens the certificate files
 * DOCKER_CERT_PATH names) in its constructor, beneath whatever options it is
 * given: build the client with the variable hidden, so that only the options
 * discovery made count (a context, a tcp address without every PEM file).
 */
function newDocker(options: DockerT.DockerOptions): Docker {
  const saved = process.env.DOCKER_HOST;
  delete process.env.DOCKER_HOST;
  try {
    return new Docker(options);
  } finally {
    if (saved !== undefined) process.env.DOCKER_HOST = saved;
  }
}

/** Finds the engine and creates a client for it; does not contact it. */
export function openEngine(env: NodeJS.ProcessEnv = process.env, opts: Omit<DiscoveryOptions, 'env'> = {}): Engine {
  const found = discoverEngine({ ...opts, env });
  for (const line of found.trace) engineDebug(line, env);
  const { where, how, endpoint, explicit } = found.chosen;
  try {
    const ssh = endpoint.kind === 'ssh' ? sshClientOptions(endpoint, env) : null;
    if (ssh) engineDebug(`${where}: ${ssh.via}`, env);
    return {
      docker: newDocker(ssh ? ssh.options : dockerodeOptions(endpoint, env)),
      where,
      how,
      endpoint,
      remote: isRemoteEndpoint(endpoint),
      explicit,
      missing: found.missing,
      via: ssh?.via,
      systemSsh: ssh?.system,
    };
  } catch (err) {
    if (err instanceof OpError) throw err;
    throw engineUnavailable(`${where} (${how})`, err);
  }
}

function unavailable(engine: Engine, err: unknown): OpError {
  const e = engine.endpoint;
  if (e.kind === 'ssh') {
    const target = { host: e.host, user: e.user, port: e.portGiven ? e.port : undefined };
    return sshUnavailable(`${engine.where} (${engine.how})`, sshCommandLine(target), engine.systemSsh === true, err);
  }
  const base = engineUnavailable(`${engine.where} (${engine.how})`, err);
  if (engine.how === 'DOCKER_HOST') {
    return new OpError(
      base.code,
      base.message,
      `Start the engine at ${engine.where} (named by DOCKER_HOST), correct DOCKER_HOST, or unset it to use the local engine.`,
    );
  }
  if (engine.how.startsWith('context ')) {
    const name = engine.how.slice('context '.length);
    return new OpError(
      base.code,
      base.message,
      `Start the engine of the Docker context "${name}" (e.g. \`colima start\`, Docker Desktop), or switch with \`docker context use default\` (or DOCKER_CONTEXT=NAME).`,
    );
  }
  if (engine.missing.length > 0) {
    return new OpError(base.code, `${base.message}\nNo engine socket was found at: ${engine.missing.join(', ')}.`, base.hint);
  }
  return base;
}

/** The errors of pingEngine that its deadline made (the engine said nothing), as opposed to a failed connection. */
const timedOut = new WeakSet<object>();

/** Whether `err` is pingEngine's error for an engine that said nothing within its deadline (asking again means waiting again). */
export function pingTimedOut(err: unknown): boolean {
  return typeof err === 'object' && err !== null && timedOut.has(err);
}

/**
 * Pings the engine within a deadline; throws an OpError naming the address
 * when it does not answer. A ping that did not answer is aborted: its request
 * and socket are destroyed, not left open until the link's own bounds end
 * them (which kept the process alive for half a minute after the error).
 */
export async function pingEngine(engine: Engine, timeoutMs = 10_000): Promise<void> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let late = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    // dockerode's types omit ping's options; it passes abortSignal on to the request.
    const ping = engine.docker.ping as unknown as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
    await Promise.race([ping.call(engine.docker, { abortSignal: abort.signal }), deadline]);
  } catch (err) {
    abort.abort();
    const e = unavailable(engine, err);
    if (late) timedOut.add(e);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The engine found as the runner finds it, checked to answer as an engine
 * before anything is built (the image toolkit's --load, runAsRoot,
 * defaultEngine): a ping, then GET /version, since another HTTP server at
 * DOCKER_HOST answers the ping's 200 too (engine_answer says so).
 */
export async function answeringEngine(): Promise<Engine> {
  const engine = openEngine();
  await pingEngine(engine);
  const { engineVersion } = await import('./version.js');
  await engineVersion(engine);
  return engine;
}

/** Whether the engine answers a ping within `timeoutMs` (after a failure: did the engine go away, or only a connection?). */
export function engineAnswers(engine: Engine, timeoutMs = 3000): Promise<boolean> {
  return pingEngine(engine, timeoutMs).then(
    () => true,
    () => false,
  );
}

export const REMOTE_OK_ENV = 'NERVES_DOCKER_TS_REMOTE_OK';

export interface Locality {
  /** The engine sees this machine's files (or the user said so). */
  local: boolean;
  /** Why, for doctor and NERVES_DEBUG. */
  reason: string;
}

/**
 * Whether the engine's address says it can see this machine's files, which
 * a bind build mounts (the system, the platform, the download dir). A unix
 * socket is local; tcp or ssh to a host that is not this one is remote,
 * unless the engine reports this machine's host name (a tcp address of this
 * host that we did not recognise) or NERVES_DOCKER_TS_REMOTE_OK=1 (a shared
 * file system). The inputs' auto mode checks a local answer with a token.
 */
export async function engineLocality(engine: Engine, env: NodeJS.ProcessEnv = process.env): Promise<Locality> {
  if (!engine.remote) return { local: true, reason: `${engine.where} is on this machine` };
  let name = '';
  try {
    name = String(((await engine.docker.info()) as { Name?: unknown }).Name ?? '');
  } catch (err) {
    engineDebug(`info failed: ${engineMessage(err)}`, env);
  }
  const own = hostname();
  if (name !== '' && name.toLowerCase() === own.toLowerCase()) {
    return { local: true, reason: `${engine.where} reports this machine's host name (${own})` };
  }
  if (envFlag(env[REMOTE_OK_ENV])) {
    return {
      local: true,
      reason: `${engine.where} runs on ${name || 'another machine'}; ${REMOTE_OK_ENV}=1 says it sees this machine's paths`,
    };
  }
  return { local: false, reason: `${engine.where} runs on ${name ? `"${name}"` : 'another machine'}, not on this machine (${own})` };
}

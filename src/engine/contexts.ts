// Docker contexts, read the way the docker CLI reads them (dockerode and
// docker-modem do not): the current context is DOCKER_CONTEXT, else
// `currentContext` in config.json ($DOCKER_CONFIG, else ~/.docker); its
// endpoint lives in the context store, named by the SHA-256 of its name:
//
//   <config>/contexts/meta/<sha256(name)>/meta.json      Endpoints.docker.{Host,SkipTLSVerify}
//   <config>/contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem
//
// "default" is no context at all: the engine is then found as if none were set.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OpError } from '../errors.js';

export const DEFAULT_CONTEXT = 'default';

/** The docker CLI's configuration directory: $DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  return env.DOCKER_CONFIG && env.DOCKER_CONFIG.length > 0 ? env.DOCKER_CONFIG : join(home, '.docker');
}

export interface CurrentContext {
  name: string;
  /** Where the name came from, for messages: "DOCKER_CONTEXT" or the config.json path. */
  source: string;
}

/**
 * The current context's name, or null when none is set (or it is "default").
 * `warn` receives what was odd on the way (an unreadable config.json), since
 * the docker CLI goes on in that case too.
 */
export function currentContext(configDir: string, env: NodeJS.ProcessEnv, warn: (line: string) => void = () => {}): CurrentContext | null {
  const fromEnv = env.DOCKER_CONTEXT;
  if (fromEnv && fromEnv.length > 0) {
    return fromEnv === DEFAULT_CONTEXT ? null : { name: fromEnv, source: 'DOCKER_CONTEXT' };
  }
  const file = join(configDir, 'config.json');
  if (!existsSync(file)) return null;
  let config: { currentContext?: unknown };
  try {
    config = JSON.parse(readFileSync(file, 'utf8')) as { currentContext?: unknown };
  } catch (err) {
    warn(`${file} cannot be read (${(err as Error).message}); its currentContext is ignored`);
    return null;
  }
  const name = config?.currentContext;
  if (typeof name !== 'string' || name === '' || name === DEFAULT_CONTEXT) return null;
  return { name, source: `currentContext in ${file}` };
}

export function contextDigest(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

export interface ContextTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface ContextEndpoint {
  name: string;
  /** Endpoints.docker.Host, e.g. unix:///Users/me/.colima/default/docker.sock or tcp://host:2376. */
  host: string;
  skipTlsVerify: boolean;
  /** The TLS files the store holds for the docker endpoint (paths; only those that exist). */
  tls: ContextTlsFiles;
  metaPath: string;
}

interface ContextMeta {
  Name?: unknown;
  Endpoints?: { docker?: { Host?: unknown; SkipTLSVerify?: unknown } };
}

/** Reads a context from the store; a context that is named but missing or unusable is an error that names it. */
export function readContext(configDir: string, ctx: CurrentContext): ContextEndpoint {
  const digest = contextDigest(ctx.name);
  const metaPath = join(configDir, 'contexts', 'meta', digest, 'meta.json');
  const fix =
    'List the contexts with `docker context ls` and pick one with `docker context use NAME` (or `docker context use default`), or unset DOCKER_CONTEXT.';
  let meta: ContextMeta;
  try {
    meta = JSON.parse(readFileSync(metaPath, 'utf8')) as ContextMeta;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new OpError(
      'engine_context',
      missing
        ? `the Docker context "${ctx.name}" (${ctx.source}) does not exist: there is no ${metaPath}`
        : `the Docker context "${ctx.name}" (${ctx.source}) cannot be read from ${metaPath}: ${(err as Error).message}`,
      fix,
    );
  }
  const docker = meta?.Endpoints?.docker;
  const host = docker?.Host;
  if (typeof host !== 'string' || host === '') {
    throw new OpError(
      'engine_context',
      `the Docker context "${ctx.name}" (${ctx.source}) has no docker endpoint (Endpoints.docker.Host in ${metaPath})`,
      fix,
    );
  }
  const tlsDir = join(configDir, 'contexts', 'tls', digest, 'docker');
  const tls: ContextTlsFiles = {};
  for (const f of ['ca', 'cert', 'key'] as const) {
    const p = join(tlsDir, `${f}.pem`);
    if (existsSync(p)) tls[f] = p;
  }
  return { name: ctx.name, host, skipTlsVerify: docker?.SkipTLSVerify === true, tls, metaPath };
}

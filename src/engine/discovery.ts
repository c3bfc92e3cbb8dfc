// Where the engine is, found the way a Docker user expects, in this order:
//
//   1. DOCKER_HOST (unix://, tcp:// with TLS from DOCKER_TLS_VERIFY /
//      DOCKER_TLS / port 2376 and DOCKER_CERT_PATH, ssh://, npipe://)
//   2. the current Docker context (DOCKER_CONTEXT, else currentContext in
//      $DOCKER_CONFIG/config.json or ~/.docker/config.json)
//   3. rootless Docker's $XDG_RUNTIME_DIR/docker.sock
//   4. the default socket /var/run/docker.sock
//   5. Docker Desktop's ~/.docker/run/docker.sock
//   6. Podman's sockets: rootful /run/podman/podman.sock, rootless
//      $XDG_RUNTIME_DIR/podman/podman.sock
//
// DOCKER_HOST and a context are used as they are, reachable or not: a user
// who named an engine gets an error that names it, never another engine.
// Sockets 3-6 are used when they exist; when none does, the default socket
// is tried (and the error lists the places looked at).
//
// The result is a plain description (the endpoint) plus the explicit
// dockerode options built from it: docker-modem's own reading of the
// environment is overridden, so a context works the same as DOCKER_HOST.
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir, hostname, networkInterfaces, userInfo } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { OpError } from '../errors.js';
import { currentContext, dockerConfigDir, readContext } from './contexts.js';
import { checkSshTarget } from './ssh/target.js';
import { tcpAgent, tlsAgent } from './tcp-agent.js';

export const DEFAULT_SOCKET = '/var/run/docker.sock';
export const PODMAN_ROOTFUL_SOCKET = '/run/podman/podman.sock';

export interface TlsSettings {
  /** Check the engine's certificate (false: DOCKER_TLS without DOCKER_TLS_VERIFY, or a context's SkipTLSVerify). */
  verify: boolean;
  /** Paths of the PEM files to use (those that exist). */
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

export type Endpoint =
  | { kind: 'unix'; path: string }
  | { kind: 'npipe'; path: string }
  | { kind: 'tcp'; host: string; port: number; tls: TlsSettings | null }
  | {
      kind: 'ssh';
      host: string;
      /** 22 unless the address names another; the system ssh client is given it only when `portGiven`. */
      port: number;
      user?: string | undefined;
      /** The address names the port (else ~/.ssh/config or ssh's default decides). */
      portGiven?: boolean | undefined;
      /** The engine's socket on the other side (ssh://host/path/docker.sock). */
      socketPath?: string | undefined;
    };

export interface Candidate {
  /** The address, e.g. unix:///var/run/docker.sock or tcp://127.0.0.1:2376. */
  where: string;
  /** How it was found: "DOCKER_HOST", "context colima", "rootless socket", "default socket", ... */
  how: string;
  endpoint: Endpoint;
  /** Named by the user (DOCKER_HOST, a context): used even when it does not answer. */
  explicit: boolean;
}

export interface Discovery {
  chosen: Candidate;
  /** What was looked at, in order, for NERVES_DEBUG=1. */
  trace: string[];
  /** Sockets looked for and not found (when the default was taken for lack of any). */
  missing: string[];
}

export interface DiscoveryOptions {
  env?: NodeJS.ProcessEnv;
  home?: string;
  uid?: number;
  /** For tests: whether a unix socket exists at this path. */
  isSocket?: (path: string) => boolean;
}

function socketExists(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** Docker reads DOCKER_TLS_VERIFY as "set and not empty"; "0" and "false" are taken as unset here. */
export function envFlag(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false' && v !== 'no';
}

function addressError(host: string, source: string, why: string): OpError {
  return new OpError(
    'engine_address',
    `${source} "${host}" is not an engine address: ${why}`,
    'Use unix:///path/to/docker.sock, tcp://HOST:PORT (with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH for TLS) or ssh://USER@HOST.',
  );
}

/**
 * Parses a Docker host address (DOCKER_HOST or a context's Host). `tlsFor`
 * decides the TLS settings of a tcp address from its port.
 */
export function parseHost(host: string, source: string, tlsFor: (port: number | null) => TlsSettings | null): Endpoint {
  const h = host.trim();
  if (h.startsWith('unix://')) return { kind: 'unix', path: h.slice('unix://'.length) || DEFAULT_SOCKET };
  if (h.startsWith('npipe://')) return { kind: 'npipe', path: h.slice('npipe://'.length) || '//./pipe/docker_engine' };
  if (h.startsWith('fd://')) throw addressError(h, source, 'fd:// is only meaningful to the daemon itself');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(h) ? h : `tcp://${h}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw addressError(h, source, 'it cannot be parsed as a URL');
  }
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostname) throw addressError(h, source, 'it names no host');
  const port = url.port ? Number(url.port) : null;
  switch (url.protocol) {
    case 'tcp:': {
      const tls = tlsFor(port);
      return { kind: 'tcp', host: hostname, port: port ?? (tls ? 2376 : 2375), tls };
    }
    case 'ssh:':
      return sshEndpoint(h, source, url, hostname, port);
    default:
      throw addressError(h, source, `the scheme ${url.protocol.slice(0, -1)} is not supported`);
  }
}

/** An ssh:// address, its parts checked before they can reach ssh's argv (no option injection). */
function sshEndpoint(h: string, source: string, url: URL, hostname: string, port: number | null): Endpoint {
  if (url.password || url.search || url.hash) throw addressError(h, source, 'an ssh address takes no password, query or fragment');
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  const socketPath = url.pathname && url.pathname !== '/' ? decodeURIComponent(url.pathname) : undefined;
  checkSshTarget({ host: hostname, user, port: port ?? undefined, socketPath });
  return { kind: 'ssh', host: hostname, port: port ?? 22, user, portGiven: port !== null, socketPath };
}

/** The TLS settings DOCKER_HOST gets from the environment, as the docker CLI (and docker-modem, for port 2376) sets them. */
export function envTls(env: NodeJS.ProcessEnv, configDir: string, port: number | null): TlsSettings | null {
  const verify = envFlag(env.DOCKER_TLS_VERIFY);
  const tls = verify || envFlag(env.DOCKER_TLS) || port === 2376;
  if (!tls) return null;
  const dir = env.DOCKER_CERT_PATH && env.DOCKER_CERT_PATH.length > 0 ? env.DOCKER_CERT_PATH : configDir;
  const file = (name: string) => {
    const p = join(dir, name);
    try {
      return statSync(p).isFile() ? p : undefined;
    } catch {
      return undefined;
    }
  };
  return { verify: verify || !envFlag(env.DOCKER_TLS), ca: file('ca.pem'), cert: file('cert.pem'), key: file('key.pem') };
}

export function formatEndpoint(e: Endpoint): string {
  switch (e.kind) {
    case 'unix':
      return `unix://${e.path}`;
    case 'npipe':
      return `npipe://${e.path}`;
    case 'tcp':
      return `tcp://${isIP(e.host) === 6 ? `[${e.host}]` : e.host}:${e.port}`;
    case 'ssh':
      return `ssh://${e.user ? `${e.user}@` : ''}${isIP(e.host) === 6 ? `[${e.host}]` : e.host}${e.port === 22 ? '' : `:${e.port}`}${e.socketPath ?? ''}`;
  }
}

function describeTls(tls: TlsSettings | null): string {
  if (!tls) return 'plain HTTP, no TLS';
  const files = (['ca', 'cert', 'key'] as const).filter((f) => tls[f]).map((f) => tls[f]);
  return `TLS${tls.verify ? '' : ' without verifying the engine'}${files.length ? ` with ${files.join(', ')}` : ' (no client certificate)'}`;
}

/** Finds the engine; reads the environment and the file system, contacts nothing. */
export function discoverEngine(opts: DiscoveryOptions = {}): Discovery {
  const env = opts.env ?? process.env;
  const home = opts.home ?? homedir();
  const isSocket = opts.isSocket ?? socketExists;
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const configDir = dockerConfigDir(env, home);
  const trace: string[] = [];
  const missing: string[] = [];
  const found = (c: Candidate): Discovery => {
    trace.push(`-> using ${c.where} (${c.how})`);
    return { chosen: c, trace, missing };
  };

  // 1. DOCKER_HOST
  const dockerHost = env.DOCKER_HOST;
  if (dockerHost && dockerHost.trim() !== '') {
    const endpoint = parseHost(dockerHost, 'DOCKER_HOST', (port) => envTls(env, configDir, port));
    trace.push(`DOCKER_HOST=${dockerHost}${endpoint.kind === 'tcp' ? ` (${describeTls(endpoint.tls)})` : ''}`);
    if (env.DOCKER_CONTEXT) trace.push(`DOCKER_CONTEXT=${env.DOCKER_CONTEXT} is not used: DOCKER_HOST comes first (as in the docker CLI)`);
    return found({ where: formatEndpoint(endpoint), how: 'DOCKER_HOST', endpoint, explicit: true });
  }
  trace.push('DOCKER_HOST is not set');

  // 2. The current Docker context
  const ctx = currentContext(configDir, env, (w) => trace.push(w));
  if (ctx) {
    const c = readContext(configDir, ctx);
    const tlsFiles = c.tls.ca || c.tls.cert || c.tls.key;
    const endpoint = parseHost(c.host, `the Docker context "${c.name}" (${c.metaPath})`, () =>
      tlsFiles || c.skipTlsVerify ? { verify: !c.skipTlsVerify, ...c.tls } : null,
    );
    trace.push(`context "${c.name}" (${ctx.source}): ${c.host}${endpoint.kind === 'tcp' ? ` (${describeTls(endpoint.tls)})` : ''}`);
    return found({ where: formatEndpoint(endpoint), how: `context ${c.name}`, endpoint, explicit: true });
  }
  trace.push(`no current Docker context (DOCKER_CONTEXT unset; no currentContext in ${join(configDir, 'config.json')})`);

  // 3-6. Well-known sockets, the first that exists.
  const runtimeDir = env.XDG_RUNTIME_DIR && env.XDG_RUNTIME_DIR.length > 0 ? env.XDG_RUNTIME_DIR : uid !== 0 ? `/run/user/${uid}` : null;
  const sockets: Array<{ path: string; how: string }> = [];
  if (runtimeDir) sockets.push({ path: join(runtimeDir, 'docker.sock'), how: 'rootless socket' });
  sockets.push({ path: DEFAULT_SOCKET, how: 'default socket' });
  sockets.push({ path: join(home, '.docker', 'run', 'docker.sock'), how: 'Docker Desktop socket' });
  sockets.push({ path: PODMAN_ROOTFUL_SOCKET, how: 'podman rootful socket' });
  if (runtimeDir) sockets.push({ path: join(runtimeDir, 'podman', 'podman.sock'), how: 'podman rootless socket' });
  for (const s of sockets) {
    if (isSocket(s.path)) {
      trace.push(`${s.how} ${s.path}: found`);
      return found({ where: `unix://${s.path}`, how: s.how, endpoint: { kind: 'unix', path: s.path }, explicit: false });
    }
    trace.push(`${s.how} ${s.path}: not there`);
    missing.push(s.path);
  }
  trace.push('no engine socket found; trying the default socket anyway');
  return found({
    where: `unix://${DEFAULT_SOCKET}`,
    how: 'default socket',
    endpoint: { kind: 'unix', path: DEFAULT_SOCKET },
    explicit: false,
  });
}

function readPem(path: string | undefined, what: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new OpError(
      'engine_tls',
      `cannot read the TLS ${what} ${path}: ${(err as Error).message}`,
      "Check DOCKER_CERT_PATH (or the context's TLS files).",
    );
  }
}

/**
 * Explicit dockerode options for an endpoint. Every connection field is set
 * (undefined where unused) because docker-modem merges its own reading of
 * DOCKER_HOST underneath whatever it is given.
 */
export function dockerodeOptions(endpoint: Endpoint, env: NodeJS.ProcessEnv = process.env): Docker.DockerOptions {
  const blank: Docker.DockerOptions = {
    socketPath: undefined,
    host: undefined,
    port: undefined,
    protocol: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
  };
  switch (endpoint.kind) {
    case 'unix':
    case 'npipe':
      return { ...blank, socketPath: endpoint.path };
    case 'tcp': {
      // Keep-alive and a connect timeout (tcp-agent.ts): a link that dies silently fails the build, not hangs it.
      if (!endpoint.tls)
        return { ...blank, host: endpoint.host, port: endpoint.port, protocol: 'http', agent: tcpAgent() } as Docker.DockerOptions;
      const tls = endpoint.tls;
      const ca = readPem(tls.ca, 'CA certificate');
      const cert = readPem(tls.cert, 'client certificate');
      const key = readPem(tls.key, 'client key');
      return {
        ...blank,
        host: endpoint.host,
        port: endpoint.port,
        protocol: 'https',
        ca,
        cert,
        key,
        // Node checks the certificate unless the agent says otherwise; the agent's options win over the request's.
        agent: tlsAgent(tls.verify ? {} : { rejectUnauthorized: false }),
      } as Docker.DockerOptions;
    }
    case 'ssh':
      return {
        ...blank,
        protocol: 'ssh',
        host: endpoint.host,
        port: endpoint.port,
        // ssh2 needs a user name where ssh would take the local user's.
        username: endpoint.user ?? userInfo().username,
        sshOptions: { agent: env.SSH_AUTH_SOCK },
      } as Docker.DockerOptions;
  }
}

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback']);

/** Whether a host name or address is this machine, without asking DNS. */
export function isThisHost(host: string, ownNames: string[] = [hostname()], ownAddresses: string[] = localAddresses()): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (LOOPBACK_NAMES.has(h) || h.endsWith('.localhost')) return true;
  const ip = isIP(h);
  if (ip === 4 && (h.startsWith('127.') || h === '0.0.0.0')) return true;
  if (ip === 6 && (h === '::1' || h === '::' || /^::ffff:127\./.test(h))) return true;
  if (ownNames.some((n) => n.toLowerCase() === h || n.toLowerCase().split('.')[0] === h)) return true;
  return ownAddresses.some((a) => a.toLowerCase() === h);
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i): i is NonNullable<typeof i> => Boolean(i))
    .map((i) => i.address);
}

/**
 * Whether the engine at this endpoint is, by its address, on another
 * machine: tcp or ssh to a host that is not this one. A unix socket is local
 * (Docker Desktop and colima share the home directory with their VM).
 */
export function isRemoteEndpoint(endpoint: Endpoint, ownNames?: string[], ownAddresses?: string[]): boolean {
  if (endpoint.kind === 'unix' || endpoint.kind === 'npipe') return false;
  return !isThisHost(endpoint.host, ownNames, ownAddresses);
}

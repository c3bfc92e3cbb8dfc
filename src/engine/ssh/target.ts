// Where an ssh:// engine is, as the system ssh client is told: the host (an
// ssh config alias or a name), and the user, port and remote socket only when
// the address names them, so that ~/.ssh/config (User, Port, HostName,
// IdentityFile, ProxyJump, ...) decides the rest, as for `docker -H ssh://`.
// Every part is checked before it reaches ssh's argv: nothing that ssh could
// take for an option, nothing the remote shell would expand.
import { OpError } from '../../errors.js';

export interface SshTarget {
  /** The host as written: an alias of ~/.ssh/config, a name or an address. */
  host: string;
  user?: string | undefined;
  /** Only when the address names it; else ssh's own default or its config. */
  port?: number | undefined;
  /** The engine's socket on the other side (ssh://host/run/docker.sock); else the remote docker's default. */
  socketPath?: string | undefined;
}

const HOST = /^[A-Za-z0-9_.%:][A-Za-z0-9_.%:-]*$/;
const USER = /^[A-Za-z0-9_.][A-Za-z0-9_.@-]*$/;
const SOCKET_PATH = /^\/[A-Za-z0-9_.\/-]+$/;

function refused(part: string, value: string, why: string): OpError {
  return new OpError(
    'engine_address',
    `the ssh ${part} "${value}" of the engine address is refused: ${why}`,
    'Write DOCKER_HOST as ssh://HOST, ssh://USER@HOST:PORT or ssh://HOST/path/to/docker.sock, where HOST is a host name, an address or an alias of ~/.ssh/config.',
  );
}

/** Checks each part of an ssh target; throws engine_address for anything ssh or a shell could misread. */
export function checkSshTarget(t: SshTarget): SshTarget {
  if (t.host.startsWith('-')) throw refused('host', t.host, 'it starts with "-", which ssh would read as an option');
  if (!HOST.test(t.host)) throw refused('host', t.host, 'only letters, digits and . _ - : % are accepted');
  if (t.user !== undefined) {
    if (t.user.startsWith('-')) throw refused('user', t.user, 'it starts with "-", which ssh would read as an option');
    if (!USER.test(t.user)) throw refused('user', t.user, 'only letters, digits and . _ - @ are accepted');
  }
  if (t.port !== undefined && !(Number.isInteger(t.port) && t.port > 0 && t.port < 65536))
    throw refused('port', String(t.port), 'not a port number');
  if (t.socketPath !== undefined && (!SOCKET_PATH.test(t.socketPath) || t.socketPath.split('/').includes('..'))) {
    throw refused('socket path', t.socketPath, 'only an absolute path of letters, digits and . _ - / is accepted');
  }
  return t;
}

/** How the user would write it on a command line: `ssh builder`, `ssh -p 2222 me@builder`. */
export function sshCommandLine(t: SshTarget): string {
  return `ssh ${t.port !== undefined ? `-p ${t.port} ` : ''}${t.user !== undefined ? `${t.user}@` : ''}${t.host}`;
}

/**
 * The options every ssh run gets: no prompt (the sidecar has no terminal for
 * ssh; keys come from an agent or IdentityFile), the docker CLI's connect
 * timeout, the private control socket, then the target's user and port.
 */
export function sshCommonArgs(t: SshTarget, controlPath: string): string[] {
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=30',
    '-o',
    `ControlPath=${controlPath}`,
    ...(t.user !== undefined ? ['-l', t.user] : []),
    ...(t.port !== undefined ? ['-p', String(t.port)] : []),
  ];
}

/** The remote command, as the docker CLI runs it: the remote docker bridges its engine's socket to ssh's stdio. */
export function dialStdioCommand(t: SshTarget): string[] {
  return ['docker', ...(t.socketPath !== undefined ? ['--host', `unix://${t.socketPath}`] : []), 'system', 'dial-stdio'];
}

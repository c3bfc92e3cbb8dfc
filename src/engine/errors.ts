// Errors of the engine layer, with the codes and hints that reach Mix.
import { OpError } from '../errors.js';

/** The HTTP status of a dockerode error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

/** The daemon's own message of a dockerode error (`json.message`), else the error's message. */
export function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === 'string') return json.message;
  const reason = (err as { reason?: unknown } | null)?.reason;
  const msg = (err as Error)?.message ?? String(err);
  return typeof reason === 'string' && !msg.includes(reason) ? `${reason}: ${msg}` : msg;
}

export function engineUnavailable(where: string, cause: unknown): OpError {
  return new OpError(
    'engine_unavailable',
    `Nerves Docker build_runner is unable to connect to docker daemon at ${where}: ${engineMessage(cause)}`,
    'Start your Docker engine (Docker Desktop, colima, `sudo systemctl start docker`, or `scripts/docker-engine` ' +
      'in the nerves-docker-ts checkout), or set DOCKER_HOST to the engine you use.',
  );
}

/**
 * An ssh:// engine that cannot be reached: the fix is on the ssh side (keys,
 * known_hosts, docker on the other host), not "start the engine".
 * `command` is how the user would run it: "ssh builder".
 */
export function sshUnavailable(where: string, command: string, systemClient: boolean, cause: unknown): OpError {
  const check = `check that \`${command} docker version\` works in a terminal`;
  const said = engineMessage(cause);
  return new OpError(
    'engine_ssh',
    `Nerves Docker build_runner is unable to reach the docker engine at ${where} through ssh: ${said.startsWith('ssh ') ? said : `${command} docker system dial-stdio fails: ${said}`}`,
    systemClient
      ? `${check[0]!.toUpperCase()}${check.slice(1)}: the key (an ssh agent, or IdentityFile in ~/.ssh/config; ssh runs here with BatchMode=yes, so it cannot ask for a password or a passphrase), ` +
          `the host key in known_hosts (connect once with \`${command}\` to accept it), and docker installed there with the engine running and your user allowed to use it.`
      : `No ssh client is on PATH, so the built-in one is used: it authenticates only through an ssh agent (SSH_AUTH_SOCK, \`ssh-add\`) and reads no ~/.ssh/config. ` +
          `Install OpenSSH's client (then ~/.ssh/config, identity files and known_hosts apply) and ${check}.`,
  );
}

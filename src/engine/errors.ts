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

// Engine failures whose cause and fix are known, recognised by the engine's
// message where they happen (creating or starting a container), so that the
// user gets the fix with the error instead of the raw engine text.

interface KnownFailure {
  test: RegExp;
  hint: string;
}

const KNOWN: KnownFailure[] = [
  {
    // Rootful Podman on a machine where process limits cannot be raised (some
    // containers and CI sandboxes): its default ulimits fail every container start,
    // e.g. "(HTTP code 409) ... error setting rlimit type 7: operation not permitted: OCI permission denied".
    test: /error setting rlimit type \d+: operation not permitted/i,
    hint:
      "The engine cannot raise the container's process limits on this machine (Podman's default ulimits; see docs/engines.md). " +
      'Lower them in a containers.conf (/etc/containers/containers.conf, or one named by CONTAINERS_CONF for the engine): ' +
      '[containers] default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"], then restart the engine (e.g. `systemctl restart podman.socket`).',
  },
];

/** The fix of a known engine failure named in `message`, or null. */
export function knownFailureHint(message: string): string | null {
  return KNOWN.find((k) => k.test.test(message))?.hint ?? null;
}

/** The engine's words for a mount whose source it cannot find or was not given (Docker Desktop's file sharing, a path not on its host). */
const MOUNT_SOURCE =
  /Mounts denied|not shared from the host|mount source path|bind source path|source path does not exist|statfs [^:]+: no such file/i;

/** A refused limit that passed the create (a cgroup the runtime could not write). */
const LIMIT_REFUSED = /cgroup|cfs_quota|cpu\.|memory\./i;

export const LIMITS_HINT =
  'The engine refused the resource limits: set build_runner_opts cpus and memory (or NERVES_DOCKER_TS_CPUS / NERVES_DOCKER_TS_MEMORY) within what its host has.';

/**
 * The hint under a container start the engine refused: a known fix, else
 * file sharing only where the engine's message is about a mount's source,
 * the limits where some were asked and a cgroup refused them, else a pointer
 * to the engine's own log.
 */
export function startFailureHint(message: string, limitsAsked: boolean): string {
  return (
    knownFailureHint(message) ??
    (MOUNT_SOURCE.test(message)
      ? 'The engine cannot see a mounted path: the mounts must be shared with the engine (Docker Desktop: Settings > Resources > File sharing).'
      : limitsAsked && LIMIT_REFUSED.test(message)
        ? LIMITS_HINT
        : "See the engine's message; the engine's own log (`journalctl -u docker`, Docker Desktop's Troubleshoot) may say more.")
  );
}

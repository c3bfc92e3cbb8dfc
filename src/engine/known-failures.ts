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

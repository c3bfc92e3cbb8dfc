// Labels on everything the runner creates, so that cleanup can find it.
export const LABEL_PREFIX = 'io.github.nerves-docker-ts';
export const LABEL = {
  managed: `${LABEL_PREFIX}.managed`,
  package: `${LABEL_PREFIX}.package`,
  volume: `${LABEL_PREFIX}.volume`,
  job: `${LABEL_PREFIX}.job`,
  kind: `${LABEL_PREFIX}.kind`,
  ownerPid: `${LABEL_PREFIX}.owner-pid`,
  ownerHost: `${LABEL_PREFIX}.owner-host`,
  keep: `${LABEL_PREFIX}.keep`,
  buildPath: `${LABEL_PREFIX}.build-path`,
} as const;

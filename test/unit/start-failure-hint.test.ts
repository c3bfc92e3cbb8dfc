// The hint under a container start the engine refused: the file-sharing fix
// only when the engine's message is about a mount's source.
import { describe, expect, it } from 'vitest';
import { startFailureHint } from '../../src/engine/known-failures.js';

const FILE_SHARING = /File sharing/;

describe('the hint of a refused container start', () => {
  it('names file sharing when the engine could not find or share a mount source', () => {
    for (const message of [
      'Mounts denied: \nThe path /Users/me/sys is not shared from the host and is not known to Docker.',
      "error while creating mount source path '/host_mnt/Users/me/sys': mkdir /host_mnt/Users: permission denied",
      'invalid mount config for type "bind": bind source path does not exist: /home/me/sys',
      'statfs /home/me/sys: no such file or directory',
    ])
      expect(startFailureHint(message, false), message).toMatch(FILE_SHARING);
  });

  it('does not blame file sharing for a cgroup refusal: with limits asked, it names them', () => {
    const runc =
      '(HTTP code 500) server error - OCI runtime create failed: container_linux.go:380: starting container process caused: process_linux.go:545: container init caused: process_linux.go:508: setting cgroup config for procHooks process caused: failed to write "100": write /sys/fs/cgroup/cpu/docker/0123/cpu.cfs_quota_us: invalid argument: unknown';
    expect(startFailureHint(runc, true)).not.toMatch(FILE_SHARING);
    expect(startFailureHint(runc, true)).toMatch(/NERVES_DOCKER_TS_CPUS/);
    expect(startFailureHint(runc, false)).not.toMatch(FILE_SHARING);
    expect(startFailureHint('exec format error', false)).not.toMatch(FILE_SHARING);
  });

  it('keeps the known failures first', () => {
    expect(startFailureHint('error setting rlimit type 7: operation not permitted: OCI permission denied', false)).toMatch(
      /default_ulimits/,
    );
  });
});

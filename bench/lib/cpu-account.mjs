// CPU seconds spent by the whole machine, by dockerd and by one container
// (its cgroup: the processes an exec runs there) between two snapshots. On
// a machine whose cores are all busy, the exec stream's wall time follows
// the CPU of every process on its way (generator, shim, dockerd, reader),
// not the reader's alone: this shows where it goes.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { machineTicks } from './common.mjs';

const HZ = 100; // USER_HZ of /proc/*/stat and /proc/stat on Linux

function read(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function dockerdPid() {
  try {
    return execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(/\s+/)[0] || null;
  } catch {
    return null;
  }
}

function procCpu(pid) {
  const s = pid && read(`/proc/${pid}/stat`);
  if (!s) return null;
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / HZ;
}

function cgroupCpu(id) {
  const v1 = read(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`);
  if (v1) return Number(v1) / 1e9;
  for (const p of [`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, `/sys/fs/cgroup/docker/${id}/cpu.stat`]) {
    const m = /usage_usec (\d+)/.exec(read(p) ?? '');
    if (m) return Number(m[1]) / 1e6;
  }
  return null;
}

function machineBusy() {
  const t = machineTicks();
  return (t.total - t.idle) / HZ; // all but idle and iowait
}

/** Starts an account; the returned function gives the CPU seconds since: machine, dockerd, container (null where unreadable). */
export function cpuAccount(containerId) {
  const pid = dockerdPid();
  const t0 = { machine: machineBusy(), dockerd: procCpu(pid), container: cgroupCpu(containerId) };
  return () => {
    const d = (a, b) => (a === null || b === null ? null : a - b);
    return {
      machine: machineBusy() - t0.machine,
      dockerd: d(procCpu(pid), t0.dockerd),
      container: d(cgroupCpu(containerId), t0.container),
    };
  };
}

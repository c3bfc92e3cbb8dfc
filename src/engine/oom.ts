// Whether the kernel's OOM killer killed a process of a container: the
// oom_kill counter of the container's own memory cgroup, read inside it by
// an exec as root (cgroup v2: /sys/fs/cgroup/memory.events; v1:
// /sys/fs/cgroup/memory/memory.oom_control, kernels >= 4.13, else
// memory.failcnt), or, when the container is no longer running, the
// engine's State.OOMKilled. Asked only after a step failed.
import { Collected } from '../chunk-sink.js';
import type { Engine } from './connect.js';
import { runExec } from './exec.js';

// Shell builtins only (read, echo, test): any image with a /bin/sh can run it.
// Prints "KEY VALUE" for the counters it finds.
const PROBE = [
  'for f in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory/memory.failcnt; do',
  '  [ -r "$f" ] || continue',
  '  case $f in *failcnt) read -r v <"$f" && echo "failcnt $v" ;;',
  '  *) while read -r k v; do [ "$k" = oom_kill ] && echo "oom_kill $v"; done <"$f" ;; esac',
  'done',
  'exit 0',
].join('\n');

/** How long the probe may take: it must not hold up the report of a failure. */
const PROBE_TIMEOUT_MS = 5000;

interface Counters {
  oomKill?: number;
  failcnt?: number;
}

async function readCounters(engine: Engine, id: string): Promise<Counters> {
  const out = new Collected(4096);
  const status = await runExec(engine.docker.getContainer(id), { cmd: ['/bin/sh', '-c', PROBE], user: '0' }, out);
  if (status !== 0) return {};
  const counters: Counters = {};
  for (const [, key, value] of out.text().matchAll(/^(oom_kill|failcnt) (\d+)$/gm)) {
    if (key === 'oom_kill') counters.oomKill = (counters.oomKill ?? 0) + Number(value);
    else counters.failcnt = Number(value);
  }
  return counters;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  return Promise.race([p.catch(() => null), timeout]).finally(() => clearTimeout(timer));
}

/**
 * Whether the OOM killer struck in the container (the container is fresh
 * per job, so any kill counted happened during this job). `killed`: the
 * failed step ended by a signal, which makes a bare failcnt (old v1
 * kernels without the oom_kill counter) evidence enough.
 */
export async function oomKilled(engine: Engine, id: string, killed: boolean): Promise<boolean> {
  const counters = await withTimeout(readCounters(engine, id), PROBE_TIMEOUT_MS);
  if (counters?.oomKill !== undefined) return counters.oomKill > 0;
  if (counters?.failcnt !== undefined && killed) return counters.failcnt > 0;
  // Not running any more, or no counter to read: what the engine recorded.
  const state = await withTimeout(engine.docker.getContainer(id).inspect(), PROBE_TIMEOUT_MS);
  return state?.State.OOMKilled === true;
}

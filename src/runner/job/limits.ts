// The CPU and memory limits of the job's container (build, archive and
// shell alike, whatever way the inputs travel): build_runner_opts cpus and
// memory, each overridden by its environment variable, as upstream's
// container runner does. Also: the HostConfig fields that carry them, and
// a check that the engine really applied them (an engine whose kernel or
// cgroup setup cannot enforce a limit drops it with a mere warning).
import type { Engine } from '../../engine/connect.js';
import { OpError } from '../../errors.js';
import { parseCpus, parseMemory, type JobSpec } from '../spec.js';

export const CPUS_ENV = 'NERVES_DOCKER_TS_CPUS';
export const MEMORY_ENV = 'NERVES_DOCKER_TS_MEMORY';

export interface ResourceLimits {
  /** CPUs (null: no limit). */
  cpus: number | null;
  /** Bytes (null: no limit). */
  memory: number | null;
  /** Where each came from: the environment variable, build_runner_opts, or nothing. */
  cpusFrom: string;
  memoryFrom: string;
}

/** Reads one variable with the spec's own parser; an invalid value is an error naming the variable. */
function fromEnv<T>(env: NodeJS.ProcessEnv, name: string, example: string, parse: (v: unknown, field: string) => T): T | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  try {
    return parse(raw, name);
  } catch (err) {
    if (!(err instanceof OpError)) throw err;
    throw new OpError(
      'invalid_env',
      err.message.replace(/^invalid build spec: /, ''),
      `Set ${name} to a value such as ${example}, or unset it.`,
    );
  }
}

/** The limits in force: the environment overrides build_runner_opts. */
export function resourceLimits(spec: Pick<JobSpec, 'cpus' | 'memory'>, env: NodeJS.ProcessEnv = process.env): ResourceLimits {
  // Both read before either fails: both invalid are named in one error, not one per run.
  const failed: OpError[] = [];
  const read = <T>(get: () => T | null): T | null => {
    try {
      return get();
    } catch (err) {
      if (!(err instanceof OpError)) throw err;
      failed.push(err);
      return null;
    }
  };
  const cpusEnv = read(() => fromEnv(env, CPUS_ENV, '6 or 1.5', parseCpus));
  const memoryEnv = read(() => fromEnv(env, MEMORY_ENV, '8G or 512M (at least 6M)', parseMemory));
  if (failed.length === 1) throw failed[0];
  if (failed.length > 1) throw new OpError('invalid_env', failed.map((e) => e.message).join('; '), failed.map((e) => e.hint).join(' '));
  return {
    cpus: cpusEnv ?? spec.cpus,
    memory: memoryEnv ?? spec.memory,
    cpusFrom: cpusEnv !== null ? CPUS_ENV : spec.cpus !== null ? 'build_runner_opts' : 'not set',
    memoryFrom: memoryEnv !== null ? MEMORY_ENV : spec.memory !== null ? 'build_runner_opts' : 'not set',
  };
}

/** 8 GiB, 512 MiB, 1.5 GiB: whole units where the size is one. */
export function formatMemory(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** One line for NERVES_DEBUG=1 and doctor. */
export function describeLimits(l: ResourceLimits): string {
  const cpus = l.cpus === null ? 'cpus: no limit' : `cpus: ${l.cpus} (${l.cpusFrom})`;
  const memory = l.memory === null ? 'memory: no limit' : `memory: ${formatMemory(l.memory)} (${l.memoryFrom})`;
  return `${cpus}; ${memory}`;
}

/** The Engine API's HostConfig fields for the limits (none when not set). */
export function hostConfigLimits(l: Pick<ResourceLimits, 'cpus' | 'memory'>): { NanoCpus?: number; Memory?: number; MemorySwap?: number } {
  const out: { NanoCpus?: number; Memory?: number; MemorySwap?: number } = {};
  if (l.cpus !== null) out.NanoCpus = Math.round(l.cpus * 1e9);
  if (l.memory !== null) {
    out.Memory = l.memory;
    // With Memory alone, Docker lets the container use as much swap again
    // (MemorySwap = 2 x Memory): a build over its limit would then crawl
    // through swap instead of failing. Equal values allow no swap, so the
    // limit is a limit, and a step that exceeds it is OOM-killed and
    // reported as such (failures.ts).
    out.MemorySwap = l.memory;
  }
  return out;
}

/**
 * What the engine dropped of the limits asked for, read back from the
 * created container (Docker discards a limit its kernel or cgroup setup
 * cannot enforce, with a warning the API client never sees): one sentence
 * per dropped limit, empty when all hold.
 */
export async function droppedLimits(engine: Engine, id: string, l: ResourceLimits): Promise<string[]> {
  const asked = hostConfigLimits(l);
  if (Object.keys(asked).length === 0) return [];
  const host = (await engine.docker.getContainer(id).inspect()).HostConfig;
  const dropped: string[] = [];
  if (asked.Memory !== undefined && host.Memory !== asked.Memory) {
    dropped.push(
      `the engine did not apply the memory limit (${formatMemory(asked.Memory)}): its kernel or cgroup setup cannot enforce it (rootless on cgroup v1?), so the build may use all the engine host's memory`,
    );
  } else if (asked.MemorySwap !== undefined && host.MemorySwap !== asked.MemorySwap) {
    dropped.push(
      `the engine cannot limit swap (no swap accounting in its kernel): the build may swap beyond its memory limit (${formatMemory(asked.MemorySwap)}) instead of failing`,
    );
  }
  if (asked.NanoCpus !== undefined && host.NanoCpus !== asked.NanoCpus) {
    dropped.push(`the engine did not apply the CPU limit (${l.cpus}): its kernel or cgroup setup cannot enforce it`);
  }
  return dropped;
}

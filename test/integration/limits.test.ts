// CPU and memory limits of the job container against the real engine: what
// the engine records for a build (and the environment's override), the
// shell's container under the same limit, a make step that outgrows its
// memory limit reported as out of memory, and an invalid environment value.
import { describe, expect, it } from 'vitest';
import { LABEL } from '../../src/engine/labels.js';
import { OpError } from '../../src/errors.js';
import { runJob } from '../../src/runner/job/run-job.js';
import { CPUS_ENV, MEMORY_ENV } from '../../src/runner/job/limits.js';
import { parseShellOptions, runShell } from '../../src/runner/shell/shell.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { docker, noContainersSoon, recorder, useExample } from './helpers/example.js';

const MiB = 1024 ** 2;

/** Runs `fn` with the variables set (undefined: unset), restoring them after. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) delete process.env[k];
      else process.env[k] = val;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

const noEnv = { [CPUS_ENV]: undefined, [MEMORY_ENV]: undefined };

describe('resource limits (real engine)', () => {
  const fx = useExample('ndt-limits-');

  it('cpus: 1, memory: "512m" reach the build container as NanoCpus, Memory and MemorySwap', async () => {
    const ctx = recorder(true);
    const res = await withEnv(noEnv, () =>
      runJob('build', parseJobSpec(fx.ex.spec({ cpus: 1, memory: '512m', keep_container: true })), ctx),
    );
    fx.volumes.push(res.volume);
    try {
      const { HostConfig } = await docker.getContainer(res.container!).inspect();
      expect(HostConfig.NanoCpus).toBe(1e9);
      expect(HostConfig.Memory).toBe(512 * MiB);
      expect(HostConfig.MemorySwap).toBe(512 * MiB);
      // This engine enforces both: nothing was dropped, so nothing to warn about.
      expect((ctx.of('warn') as string[]).join('\n')).not.toMatch(/did not apply|cannot limit/);
    } finally {
      await docker.getContainer(res.container!).remove({ force: true });
    }
  });

  it('NERVES_DOCKER_TS_CPUS and NERVES_DOCKER_TS_MEMORY override build_runner_opts', async () => {
    const spec = parseJobSpec(fx.ex.spec({ cpus: 1, memory: '512m', keep_container: true }));
    const res = await withEnv({ [CPUS_ENV]: '0.5', [MEMORY_ENV]: '300M' }, () => runJob('build', spec, recorder(true)));
    fx.volumes.push(res.volume);
    try {
      const { HostConfig } = await docker.getContainer(res.container!).inspect();
      expect(HostConfig.NanoCpus).toBe(5e8);
      expect(HostConfig.Memory).toBe(300 * MiB);
      expect(HostConfig.MemorySwap).toBe(300 * MiB);
    } finally {
      await docker.getContainer(res.container!).remove({ force: true });
    }
  });

  it('without limits the container has none', async () => {
    const res = await withEnv(noEnv, () => runJob('build', parseJobSpec(fx.ex.spec({ keep_container: true })), recorder(true)));
    fx.volumes.push(res.volume);
    try {
      const { HostConfig } = await docker.getContainer(res.container!).inspect();
      expect(HostConfig.NanoCpus ?? 0).toBe(0);
      expect(HostConfig.Memory ?? 0).toBe(0);
    } finally {
      await docker.getContainer(res.container!).remove({ force: true });
    }
  });

  it("the shell's container gets the same limit", async () => {
    const ctx = recorder(true);
    const cmd = ['sh', '-c', 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes'];
    const args = { ...fx.ex.spec({ memory: '256m' }), tty_path: '/nonexistent/tty', cmd };
    const res = await withEnv(noEnv, () => runShell(parseJobSpec(args), parseShellOptions(args), ctx));
    expect(res.status).toBe(0);
    const logs = ctx.of('log') as Array<{ stream: string; data: Buffer }>;
    const out = Buffer.concat(logs.filter((l) => l.stream === 'stdout').map((l) => l.data)).toString();
    expect(out.trim().split('\n').at(-1)).toBe(String(256 * MiB));
  });

  it('a make step that outgrows memory: "64m" is reported as out of memory, with a hint', async () => {
    const ctx = recorder(true);
    const spec = parseJobSpec(fx.ex.spec({ memory: '64m', make_args: ['MEMHOG_MB=200'] }));
    const err = await withEnv(noEnv, () => runJob('build', spec, ctx)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpError);
    const e = err as OpError;
    expect(e.code).toBe('step_out_of_memory');
    // make itself survives (exit 2): the kernel killed the recipe's shell, which held the memory.
    expect(e.message).toMatch(
      /The "make" step (was killed|exited with status \d+ after the kernel killed a process in it): the build container ran out of memory \(limit 64 MiB\)\.$/,
    );
    expect(e.message).toContain('memhog 1.0 Building'); // the tail of build.log
    expect(e.hint).toMatch(
      /^Raise build_runner_opts memory \(or NERVES_DOCKER_TS_MEMORY\), lower PARALLEL_JOBS, or free memory on the engine host\./,
    );
    expect(await noContainersSoon({ [LABEL.package]: 'example_system', [LABEL.kind]: 'build' })).toEqual([]);
  });

  it('the same step with room enough builds', async () => {
    const res = await withEnv(noEnv, () =>
      runJob('build', parseJobSpec(fx.ex.spec({ memory: '512m', make_args: ['MEMHOG_MB=20'] })), recorder(true)),
    );
    fx.volumes.push(res.volume);
    expect(res.size).toBeGreaterThan(0);
  });

  it('more CPUs than the engine host has: the engine refuses, and the hint says which setting to lower', async () => {
    const err = await withEnv(noEnv, () => runJob('build', parseJobSpec(fx.ex.spec({ cpus: 1000 })), recorder(true))).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).code).toBe('container_create');
    expect((err as OpError).message).toMatch(/CPUs/);
    expect((err as OpError).hint).toContain('build_runner_opts cpus and memory (or NERVES_DOCKER_TS_CPUS / NERVES_DOCKER_TS_MEMORY)');
  });

  it('an invalid NERVES_DOCKER_TS_MEMORY or NERVES_DOCKER_TS_CPUS is an error naming the variable, before the build starts', async () => {
    for (const [name, value] of [
      [MEMORY_ENV, 'lots'],
      [MEMORY_ENV, '1m'],
      [CPUS_ENV, '-2'],
    ] as const) {
      const ctx = recorder(true);
      const err = await withEnv({ ...noEnv, [name]: value }, () => runJob('build', parseJobSpec(fx.ex.spec({ memory: '512m' })), ctx)).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(OpError);
      expect((err as OpError).code).toBe('invalid_env');
      expect((err as OpError).message).toContain(name);
      expect((err as OpError).message).toContain(JSON.stringify(value));
      expect((err as OpError).hint).toContain(`Set ${name} to a value such as`);
      expect(ctx.of('header')).toEqual([]);
    }
  });
});

// The limits in force (build_runner_opts, overridden by the environment),
// their HostConfig fields and how they are told.
import { describe, expect, it } from 'vitest';
import { describeLimits, formatMemory, hostConfigLimits, resourceLimits } from '../../src/runner/job/limits.js';

const G = 1024 ** 3;

describe('resource limits', () => {
  it('the environment overrides build_runner_opts, each on its own', () => {
    expect(resourceLimits({ cpus: 6, memory: 8 * G }, {})).toEqual({
      cpus: 6,
      memory: 8 * G,
      cpusFrom: 'build_runner_opts',
      memoryFrom: 'build_runner_opts',
    });
    expect(resourceLimits({ cpus: 6, memory: 8 * G }, { NERVES_DOCKER_TS_MEMORY: '2G' })).toMatchObject({
      cpus: 6,
      memory: 2 * G,
      memoryFrom: 'NERVES_DOCKER_TS_MEMORY',
    });
    expect(resourceLimits({ cpus: null, memory: null }, { NERVES_DOCKER_TS_CPUS: '1.5', NERVES_DOCKER_TS_MEMORY: ' ' })).toEqual({
      cpus: 1.5,
      memory: null,
      cpusFrom: 'NERVES_DOCKER_TS_CPUS',
      memoryFrom: 'not set',
    });
  });

  it('an invalid value is an invalid_env error naming the variable', () => {
    expect(() => resourceLimits({ cpus: null, memory: null }, { NERVES_DOCKER_TS_CPUS: 'many' })).toThrow(
      expect.objectContaining({ code: 'invalid_env', message: expect.stringMatching(/^NERVES_DOCKER_TS_CPUS must be/) }),
    );
    expect(() => resourceLimits({ cpus: null, memory: null }, { NERVES_DOCKER_TS_MEMORY: '5m' })).toThrow(
      expect.objectContaining({ code: 'invalid_env', message: expect.stringMatching(/^NERVES_DOCKER_TS_MEMORY must be at least 6M/) }),
    );
    expect(() => resourceLimits({ cpus: null, memory: null }, { NERVES_DOCKER_TS_CPUS: '0.001' })).toThrow(
      expect.objectContaining({
        code: 'invalid_env',
        message: expect.stringMatching(/^NERVES_DOCKER_TS_CPUS must be at least 0\.01 \(Docker's minimum\)/),
      }),
    );
  });

  // A build named only the first, then the second on the next run.
  it('both variables invalid: one invalid_env error naming both, with both hints', () => {
    let err: unknown;
    try {
      resourceLimits({ cpus: null, memory: null }, { NERVES_DOCKER_TS_CPUS: 'abc', NERVES_DOCKER_TS_MEMORY: '1k' });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'invalid_env' });
    const { message, hint } = err as { message: string; hint: string };
    expect(message).toMatch(/^NERVES_DOCKER_TS_CPUS must be .*; NERVES_DOCKER_TS_MEMORY must be at least 6M/);
    expect(hint).toMatch(/^Set NERVES_DOCKER_TS_CPUS to .* Set NERVES_DOCKER_TS_MEMORY to /);
  });

  it('HostConfig: NanoCpus, and MemorySwap equal to Memory (no swap beyond the limit)', () => {
    expect(hostConfigLimits({ cpus: 1.5, memory: 512 * 1024 ** 2 })).toEqual({
      NanoCpus: 1.5e9,
      Memory: 512 * 1024 ** 2,
      MemorySwap: 512 * 1024 ** 2,
    });
    expect(hostConfigLimits({ cpus: null, memory: null })).toEqual({});
  });

  it('says sizes in whole units where it can', () => {
    expect(formatMemory(8 * G)).toBe('8 GiB');
    expect(formatMemory(64 * 1024 ** 2)).toBe('64 MiB');
    expect(formatMemory(1.5 * G)).toBe('1.5 GiB');
    expect(describeLimits(resourceLimits({ cpus: 6, memory: null }, {}))).toBe('cpus: 6 (build_runner_opts); memory: no limit');
  });
});

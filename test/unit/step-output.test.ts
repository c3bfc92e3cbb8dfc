// Which path step output takes (src/runner/job/steps/output-mode.ts chooseOutputMode).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseOutputMode, fifoPossible } from '../../src/runner/job/steps/output-mode.js';
import { removeStaleFifoDirs } from '../../src/runner/job/steps/fifo-output.js';

const local = { remote: false };
const kernel = '6.1.0-18-amd64';

describe('chooseOutputMode', () => {
  it("takes the FIFO when the engine runs on this machine's kernel", () => {
    expect(chooseOutputMode(local, { kernel }, {}, 'linux', kernel).mode).toBe('fifo');
  });

  it('keeps the exec stream for a remote engine, a VM (other kernel), a non-Linux host, or an unknown kernel', () => {
    expect(chooseOutputMode({ remote: true }, { kernel }, {}, 'linux', kernel)).toMatchObject({ mode: 'exec', why: /another host/ });
    expect(chooseOutputMode(local, { kernel: '6.10.14-linuxkit' }, {}, 'linux', kernel)).toMatchObject({
      mode: 'exec',
      why: /6\.10\.14-linuxkit.*not this machine's/,
    });
    expect(chooseOutputMode(local, { kernel }, {}, 'darwin', kernel)).toMatchObject({ mode: 'exec', why: /darwin/ });
    expect(chooseOutputMode(local, { kernel: '' }, {}, 'linux', kernel)).toMatchObject({ mode: 'exec', why: /unknown/ });
  });

  it('NERVES_DOCKER_TS_STEP_OUTPUT overrides; auto and empty mean the default; anything else is an error', () => {
    const env = (v: string) => ({ NERVES_DOCKER_TS_STEP_OUTPUT: v });
    expect(chooseOutputMode(local, { kernel }, env('exec'), 'linux', kernel).mode).toBe('exec');
    expect(chooseOutputMode({ remote: true }, { kernel }, env('fifo'), 'linux', kernel).mode).toBe('fifo');
    expect(chooseOutputMode(local, { kernel }, env('auto'), 'linux', kernel).mode).toBe('fifo');
    expect(chooseOutputMode(local, { kernel }, env(''), 'linux', kernel).mode).toBe('fifo');
    expect(() => chooseOutputMode(local, { kernel }, env('pipe'), 'linux', kernel)).toThrow(/not one of auto, fifo, exec/);
  });
});

describe('fifoPossible (the FIFOs are made before the engine says which kernel it runs)', () => {
  it('agrees with chooseOutputMode wherever the kernel does not decide', () => {
    for (const engine of [local, { remote: true }]) {
      for (const platform of ['linux', 'darwin'] as const) {
        for (const forced of [undefined, 'auto', 'fifo', 'exec']) {
          const env = forced === undefined ? {} : { NERVES_DOCKER_TS_STEP_OUTPUT: forced };
          const chosen = chooseOutputMode(engine, { kernel }, env, platform, kernel).mode;
          // The FIFOs are only ever skipped where they cannot be taken.
          if (chosen === 'fifo') expect(fifoPossible(engine, env, platform)).toBe(true);
          if (!fifoPossible(engine, env, platform)) expect(chosen).toBe('exec');
        }
      }
    }
    expect(fifoPossible({ remote: true }, {}, 'linux')).toBe(false);
    expect(fifoPossible(local, { NERVES_DOCKER_TS_STEP_OUTPUT: 'exec' }, 'linux')).toBe(false);
  });
});

describe('removeStaleFifoDirs', () => {
  it('removes the directories of sidecars that are gone (and unnamed ones), not those of live ones', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'ndt-stale-'));
    try {
      const dead = spawnSync('true').pid!; // exited: its pid is free
      for (const n of [`.ndt-output-${process.pid}-aaaaaa`, `.ndt-output-${dead}-bbbbbb`, '.ndt-output-cccccc', '.ndt-outputs', 'other'])
        mkdirSync(join(parent, n));
      await removeStaleFifoDirs(parent);
      expect(readdirSync(parent).sort()).toEqual([`.ndt-output-${process.pid}-aaaaaa`, '.ndt-outputs', 'other'].sort());
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

// A build whose build.log cannot be written (a symlink to /dev/full: every
// write fails with ENOSPC), against the real engine, through both ways step
// output takes: the job fails with the OpError `log_file`, and its scope
// still lets everything go (no container left, the lock released). The
// pieces are checked in test/unit/log-failure.test.ts.
import { existsSync, mkdtempSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OpError } from '../../src/errors.js';
import { LABEL } from '../../src/engine/labels.js';
import { LOCK_FILE } from '../../src/runner/job/lock.js';
import { runJob } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { noContainersSoon, recorder, useExample } from './helpers/example.js';

describe('a build.log that cannot be written (real engine)', () => {
  const fx = useExample('ndt-logfail-');

  for (const mode of ['fifo', 'exec'] as const) {
    it(`fails the build as log_file, naming the file and the error; nothing is left behind (${mode} output)`, async () => {
      const logDir = mkdtempSync(join(fx.ex.dir, 'log-'));
      symlinkSync('/dev/full', join(logDir, 'build.log'));
      const spec = parseJobSpec(fx.ex.spec({ log_dir: logDir }));
      const saved = process.env.NERVES_DOCKER_TS_STEP_OUTPUT;
      process.env.NERVES_DOCKER_TS_STEP_OUTPUT = mode;
      let err: unknown;
      try {
        err = await runJob('build', spec, recorder(true)).then(
          () => null,
          (e: unknown) => e,
        );
      } finally {
        if (saved === undefined) delete process.env.NERVES_DOCKER_TS_STEP_OUTPUT;
        else process.env.NERVES_DOCKER_TS_STEP_OUTPUT = saved;
      }
      expect(err).toBeInstanceOf(OpError);
      expect((err as OpError).code).toBe('log_file');
      expect((err as OpError).message).toBe(`cannot write build.log in ${logDir}: ENOSPC: no space left on device, write`);
      expect((err as OpError).hint).toContain(logDir);
      expect(await noContainersSoon({ [LABEL.package]: 'example_system', [LABEL.ownerPid]: String(process.pid) })).toEqual([]);
      expect(existsSync(join(spec.build_path, LOCK_FILE))).toBe(false);
    });
  }
});

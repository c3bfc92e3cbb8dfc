// Two builds at once: of the same package, the second fails fast naming the
// holder of the lock; of two different packages, both succeed.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob, type JobResult } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { LABEL } from '../../src/engine/labels.js';
import { copyExample, noContainersSoon, recorder, removeVolumeQuietly, requireEngine, type Example } from './helpers/example.js';

describe('concurrent builds (real engine)', () => {
  let a: Example;
  let b: Example;
  const volumes: string[] = [];
  beforeAll(async () => {
    await requireEngine();
    a = copyExample('ndt-conc-a-');
    b = copyExample('ndt-conc-b-');
  });
  afterAll(async () => {
    for (const v of volumes) await removeVolumeQuietly(v);
    a?.remove();
    b?.remove();
  });

  it('the same package twice: the second fails fast and names the first', async () => {
    const first = recorder(true);
    const running = runJob('build', parseJobSpec(a.spec({ make_args: ['SLEEP=3'] })), first);
    // Wait until the first holds the lock and runs make.
    while (!(first.of('headline') as string[]).some((h) => h.includes('Sleeping'))) await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const second = runJob('build', parseJobSpec(a.spec()), recorder(true));
    await expect(second).rejects.toMatchObject({ code: 'locked', message: expect.stringContaining(`pid ${process.pid}`) });
    expect(Date.now() - t0).toBeLessThan(2000);
    const res: JobResult = await running;
    volumes.push(res.volume);
    expect(existsSync(res.path)).toBe(true);
  });

  it('two different packages at once both succeed', async () => {
    const [ra, rb] = await Promise.all([
      runJob('build', parseJobSpec(a.spec()), recorder(true)),
      runJob('build', parseJobSpec(b.spec()), recorder(true)),
    ]);
    volumes.push(ra.volume, rb.volume);
    expect(ra.volume).not.toBe(rb.volume);
    expect(existsSync(ra.path) && existsSync(rb.path)).toBe(true);
    expect(await noContainersSoon({ [LABEL.volume]: ra.volume })).toEqual([]);
    expect(await noContainersSoon({ [LABEL.volume]: rb.volume })).toEqual([]);
  });
});

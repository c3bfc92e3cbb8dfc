// doctor's image check when it is given a string that is not an image
// reference (`nerves-docker doctor --image X`, the Mix doctor's project tag):
// a failed check saying what to give, decided before any engine is asked (the
// reference would go into the Engine API's URL path: "Foo Bar" and
// "../../x" made requests the engine could not answer, the second one a crash).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/runner/doctor.js';

const home = mkdtempSync(join(tmpdir(), 'ndt-doctor-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
// No engine answers here: nothing may be sent anywhere.
const env = { DOCKER_HOST: `unix://${join(home, 'no-engine.sock')}` };

describe('doctor --image with an invalid reference', () => {
  it.each(['../../x', 'Foo Bar', 'a:b:c', 'ubuntu@sha256:zz', ''])('fails the image check for %j without the engine', async (image) => {
    const checks = await runDoctor({ image, env, home });
    const check = checks.find((c) => c.name === 'image');
    expect(check).toMatchObject({ ok: false, detail: `${JSON.stringify(image)} is not a valid image reference; it was not looked up` });
    expect(check?.fix).toContain('name:tag');
    expect(checks.find((c) => c.name === 'engine')?.ok).toBe(false);
  });

  it('a valid reference is left to the engine (no image check when none answers)', async () => {
    const checks = await runDoctor({ image: 'localhost/ndt/none:1', env, home });
    expect(checks.find((c) => c.name === 'image')).toBeUndefined();
  });
});

// doctor's Node check: the minimum it applies is the one package.json's
// engines field declares, so that doctor never passes a Node npm calls too old.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MIN_NODE, nodeCheck } from '../../src/runner/doctor.js';

describe("doctor's Node check", () => {
  it("applies package.json's engines minimum", () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${MIN_NODE.replace(/\.0$/, '')}`);
  });

  it('fails an older Node 20 with what to do, passes the minimum and newer', () => {
    expect(nodeCheck('20.0.0')).toMatchObject({
      ok: false,
      fix: 'Install Node 20.19 or newer, or point NERVES_DOCKER_TS_NODE at one.',
    });
    expect(nodeCheck('20.18.3').ok).toBe(false);
    expect(nodeCheck('20.19.0')).toMatchObject({ ok: true, fix: undefined });
    expect(nodeCheck('22.1.0').ok).toBe(true);
  });
});

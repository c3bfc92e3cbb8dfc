// Hostile input against the real engine: output that is one 50 MB line,
// invalid UTF-8 and NUL bytes reaches build.log byte for byte without
// stalling the headlines; paths and make_args full of shell syntax are passed
// literally; containers get no privileges and no secrets.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { LABEL } from '../../src/engine/labels.js';
import { OUTPUT_ENV } from '../../src/runner/job/steps/output-mode.js';
import { containersOf, docker, noContainersSoon, recorder, useExample, type Example } from './helpers/example.js';

// make -f this file runs it instead of the platform's build: weird output
// between two headlines.
const WEIRD_MK = `all:
\t@printf '>>> weird 1.0 Before\\n'
\t@head -c 52428800 /dev/zero | tr '\\000' 'x'
\t@printf '\\n\\377\\376 invalid utf-8 \\000\\000 nul bytes\\n\\033[7m>>> weird 1.0 Inverse\\033[27m\\n'
\t@printf '>>> weird 1.0 After\\n'
`;

function expectedWeirdOutput(): Buffer {
  return Buffer.concat([
    Buffer.from('>>> weird 1.0 Before\n'),
    Buffer.alloc(52428800, 'x'),
    Buffer.from('\n'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from(' invalid utf-8 \0\0 nul bytes\n\x1b[7m>>> weird 1.0 Inverse\x1b[27m\n>>> weird 1.0 After\n'),
  ]);
}

// Both ways output can take: the FIFO (this engine shares our kernel) and the exec stream.
describe.each(['fifo', 'exec'])('hostile build output through the %s path (real engine)', (mode) => {
  const fx = useExample('ndt-weird-');
  let ex: Example;
  const saved = process.env[OUTPUT_ENV];
  beforeAll(() => {
    ex = fx.ex;
    writeFileSync(join(ex.system, 'weird.mk'), WEIRD_MK);
    process.env[OUTPUT_ENV] = mode;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env[OUTPUT_ENV];
    else process.env[OUTPUT_ENV] = saved;
  });

  it('a 50 MB line, invalid UTF-8 and NUL bytes reach build.log byte for byte; headlines keep flowing', async () => {
    const ctx = recorder(true);
    // The step fails on purpose after the output (no artifact rule in weird.mk): only make's output matters.
    const res = await runJob('build', parseJobSpec(ex.spec({ make_args: ['-f', '/nerves/env/example_system/weird.mk'] })), ctx).catch(
      (e: Error) => e,
    );
    fx.volumes.push(
      res instanceof Error
        ? `example_system-${readFileSync(join(ex.system, '.nerves/artifacts/example_system-portable-0.1.0/.docker_id'), 'utf8')}`
        : res.volume,
    );
    const log = readFileSync(join(ex.dir, 'build.log'));
    expect(log.indexOf(expectedWeirdOutput())).toBeGreaterThan(0);
    const headlines = ctx.of('headline') as string[];
    const weird = headlines.filter((h) => h.includes('weird'));
    expect(weird).toEqual(['>>> weird 1.0 Before', '\x1b[7m>>> weird 1.0 Inverse\x1b[27m', '>>> weird 1.0 After']);
  });
});

describe('shell syntax in paths and make_args is passed literally', () => {
  const marker = join(tmpdir(), `ndt-pwned-${process.pid}`);
  // A path cannot hold "/": its commands name a relative file, looked for where they could have run.
  const rel = `ndt-pwned-rel-${process.pid}`;
  const relPlaces = () => [process.cwd(), tmpdir()].map((d) => join(d, rel));
  const fx = useExample(`ndt inj $(touch ${rel}) \`touch ${rel}\`; touch ${rel}; 'q" `);
  let ex: Example;
  beforeAll(() => {
    rmSync(marker, { force: true });
    ex = fx.ex;
  });
  afterAll(() => rmSync(marker, { force: true }));

  it('builds, the greeting arrives untouched, and no command ran', async () => {
    const greeting = `a b 'c' "d" \`touch ${marker}\`; $$(touch ${marker}) && touch ${marker} | x`;
    const res = await runJob('build', parseJobSpec(ex.spec({ make_args: [`GREETING=${greeting}`] })), recorder(true));
    fx.volumes.push(res.volume);
    const name = 'example_system-portable-0.1.0-ABCDEF1';
    const out = execFileSync('tar', ['-xzOf', res.path, `${name}/target-greeting`], { encoding: 'utf8' });
    expect(out.trim()).toBe(greeting.replace('$$', '$'));
    expect(existsSync(marker)).toBe(false);
    for (const place of [...relPlaces(), join(ex.dir, rel), join(ex.system, rel), join(ex.platform, rel)])
      expect(existsSync(place)).toBe(false);
    expect(ex.system).toContain('$(touch');
  });
});

describe('least privilege (real engine)', () => {
  const fx = useExample('ndt-priv-');
  let ex: Example;
  beforeAll(() => {
    ex = fx.ex;
  });

  async function inspectWhileRunning(spec: Record<string, unknown>) {
    const ctx = recorder(true);
    const running = runJob('build', parseJobSpec(spec), ctx);
    let info;
    for (let i = 0; i < 600 && !info; i++) {
      const [c] = await containersOf({ [LABEL.package]: 'example_system', [LABEL.kind]: 'build' }).then((cs) =>
        // An earlier test's container may still be on its way out: only a running one, and it may go meanwhile.
        cs.filter((c) => c.State === 'running' && c.Mounts.some((m) => m.Source === ex.system)),
      );
      if (c)
        info = await docker
          .getContainer(c.Id)
          .inspect()
          .then(
            (i) => (i.State.Running ? i : undefined),
            () => undefined,
          );
      if (!info) await new Promise((r) => setTimeout(r, 100));
    }
    const res = await running;
    fx.volumes.push(res.volume);
    return { info: info!, ctx };
  }

  it('no privileges, no added capabilities, no host secrets; ~/.ssh read-only and only when present', async () => {
    process.env.NDT_TEST_SECRET_TOKEN = 'hunter2-do-not-leak';
    try {
      const without = await inspectWhileRunning(ex.spec({ make_args: ['SLEEP=1'] }));
      expect(without.info.HostConfig.Privileged).toBe(false);
      expect(without.info.HostConfig.CapAdd ?? []).toEqual([]);
      expect(without.info.Mounts.some((m) => m.Destination === '/home/nerves/.ssh')).toBe(false);
      expect(JSON.stringify(without.info.Config.Env)).not.toContain('hunter2');
      expect(JSON.stringify(without.ctx.events)).not.toContain('hunter2');
      expect(readFileSync(join(ex.dir, 'build.log'), 'utf8')).not.toContain('hunter2');

      // The first run's container goes just after it replies: wait, so that only the second one is found.
      expect(await noContainersSoon({ [LABEL.volume]: fx.volumes[0]! })).toEqual([]);
      mkdirSync(join(ex.home, '.ssh'), { recursive: true });
      const withSsh = await inspectWhileRunning(ex.spec({ make_args: ['SLEEP=1'] }));
      const ssh = withSsh.info.Mounts.find((m) => m.Destination === '/home/nerves/.ssh');
      expect(ssh).toMatchObject({ Source: join(ex.home, '.ssh'), RW: false });
    } finally {
      delete process.env.NDT_TEST_SECRET_TOKEN;
    }
  });
});

// A job's container between its create and its start, against the real
// engine: the inputs' copy into volumes (the transport's beforeStart) runs
// there and may take minutes on a remote engine. The sidecar's exit in that
// window (SIGTERM, SIGHUP, stdin's end: abort what is in flight, then run the
// cleanup registry) must remove the "Created" container, as it does a
// started one. The transport here is a stand-in whose beforeStart waits for
// the test: the window is held open without a slow engine.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openEngine } from '../../src/engine/connect.js';
import { removeContainer } from '../../src/engine/containers.js';
import { LABEL } from '../../src/engine/labels.js';
import { OpError } from '../../src/errors.js';
import { BuildLog } from '../../src/runner/output/build-log.js';
import { Reporter } from '../../src/runner/output/reporter.js';
import { openJobContainer } from '../../src/runner/job/container.js';
import type { InputTransport } from '../../src/runner/job/inputs/transport.js';
import { JobScope } from '../../src/runner/job/scope.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { containersOf, recorder, useExample } from './helpers/example.js';

describe('a job container before its start (real engine)', () => {
  const fx = useExample('ndt-created-');

  it("the sidecar's exit while the inputs are copied (beforeStart) removes the created container", async () => {
    const spec = parseJobSpec(fx.ex.spec());
    const engine = openEngine();
    const ctx = recorder(true);
    const scope = new JobScope(ctx);
    const volume = `ndt-created-${process.pid}`;
    fx.volumes.push(volume);
    const labels = { [LABEL.volume]: volume };
    let entered!: () => void;
    let release!: () => void;
    const copying = new Promise<void>((r) => (entered = r));
    const released = new Promise<void>((r) => (release = r));
    const inputs: InputTransport = {
      name: 'copy',
      why: 'a copy that lasts until the test lets it end',
      sharesHostFiles: false,
      mounts: () => [],
      beforeStart: async () => {
        entered();
        await released;
      },
    };
    const log = await BuildLog.create(join(fx.ex.dir, 'build.log'), () => {});
    const reporter = new Reporter(ctx, false);
    const opening = openJobContainer('build', spec, { engine, reporter, log, ctx, scope, volume, inputs }).then(
      () => null,
      (err: unknown) => err,
    );
    try {
      await copying;
      expect((await containersOf(labels)).map((c) => c.State)).toEqual(['created']);
      // What the sidecar's stop does: abort the ops in flight, then run the cleanup registry (and exit).
      ctx.controller.abort(new OpError('interrupted', 'sidecar stopping (eof)'));
      await ctx.cleanup.runAll();
      expect(await containersOf(labels)).toEqual([]);
      // Let go, the copy finds its container gone: the job goes no further.
      release();
      expect(await opening).toBeInstanceOf(Error);
    } finally {
      release();
      await opening;
      await scope.close();
      await log.close();
      for (const c of await containersOf(labels)) await removeContainer(engine, c.Id);
    }
  });
});

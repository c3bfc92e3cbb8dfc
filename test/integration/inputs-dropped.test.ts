// Dropped connections to the engine in copy mode: the runner reaches the
// real engine through a TCP proxy of the test's own on 127.0.0.1
// (helpers/tcp-engine-proxy.ts), which cuts the connection in the middle of
// the upload of the inputs (PUT archive) and in the middle of the artifact's
// download (GET archive). Each gives a clear error naming what was
// interrupted, leaves no artifact (neither under its name nor a partial
// file), no container; the next build, with nothing cut, resumes: it sends
// only what did not arrive, and succeeds. A cut in the middle of a step (the
// exec stream) is said as a lost connection, not as the step failing. An
// interrupt while the steps' output or the artifact comes over a link gone
// silent (the proxy stalls it) ends the build too.
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../src/engine/labels.js';
import { OpError } from '../../src/errors.js';
import { runJob, type JobResult } from '../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { withEngineEnv } from './engines/engine-helpers.js';
import { docker, noContainersSoon, recorder, removeVolumeQuietly, useExample, type Recorder } from './helpers/example.js';
import { tcpEngineProxy, type TcpEngineProxy } from './helpers/tcp-engine-proxy.js';

const ARTIFACT = 'example_system-portable-0.1.0-ABCDEF1.tar.gz';
const MB = 1 << 20;
const UPLOAD = /^PUT \/(\S*\/)?containers\/[^/]+\/archive\?/;
const EXEC_STREAM = /^POST \/(\S*\/)?exec\/[^/]+\/start$/;
const DOWNLOAD = new RegExp(`^GET /(\\S*/)?containers/[^/]+/archive\\?path=\\S*/${ARTIFACT.replace(/\./g, '\\.')}$`);

interface Sent {
  files: number;
  bytes: string;
}

/** The "sent N files (X)" line of a copy build. */
function sentLine(ctx: Recorder): Sent {
  const line = ctx
    .of('info')
    .map(String)
    .find((t) => /^sent \d+ files/.test(t));
  if (!line) throw new Error(`no "sent N files" line among: ${ctx.of('info').map(String).join(' | ')}`);
  const m = /^sent (\d+) files \(([^)]*)\)/.exec(line)!;
  return { files: Number(m[1]), bytes: m[2]! };
}

describe('dropped connections to the engine mid-upload and mid-download (inputs copied, through a TCP proxy)', () => {
  const fx = useExample('ndt-dropped-');
  let proxy: TcpEngineProxy;
  let volume = '';
  let firstSend: Sent;

  beforeAll(async () => {
    proxy = await tcpEngineProxy();
  });

  afterAll(async () => {
    await proxy?.close();
    for (const v of [volume, `${volume}-platform`, `${volume}-package`]) if (v) await removeVolumeQuietly(v);
  });

  async function build(ctx: Recorder, overrides: Record<string, unknown> = {}): Promise<JobResult> {
    return withEngineEnv({ DOCKER_HOST: proxy.address }, () =>
      runJob('build', parseJobSpec(fx.ex.spec({ inputs: 'copy', ...overrides })), ctx),
    );
  }

  async function failedBuild(overrides: Record<string, unknown> = {}): Promise<OpError> {
    const err = await build(recorder(true), overrides).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpError);
    return err as OpError;
  }

  /** Nothing in the download dir: no artifact under its name, no partial file beside it. */
  function noArtifact(): void {
    expect(readdirSync(fx.ex.dl)).toEqual([]);
  }

  it('a first build through the proxy copies everything and succeeds', async () => {
    const ctx = recorder(true);
    const result = await build(ctx);
    volume = result.volume;
    expect(result.inputs).toBe('copy');
    expect(result.path).toBe(join(fx.ex.dl, ARTIFACT));
    firstSend = sentLine(ctx);
    expect(firstSend.files).toBeGreaterThan(10);
    expect(proxy.requests.some((r) => UPLOAD.test(r))).toBe(true);
    // The example's small artifact comes back in the steps' own exec stream: no archive request (big ones make one, below).
    expect(proxy.requests.some((r) => DOWNLOAD.test(r))).toBe(false);
  });

  it('cut mid-upload: inputs_sync naming the platform, no artifact, no container; the next build sends only what is missing', async () => {
    rmSync(join(fx.ex.dl, ARTIFACT));
    // A new file of some MB in the platform: this sync's upload is big enough to be cut in the middle.
    writeFileSync(join(fx.ex.platform, 'support/bulk.bin'), randomBytes(8 * MB));
    proxy.cut = { direction: 'upload', request: UPLOAD, afterBytes: 2 * MB };
    const err = await failedBuild();
    proxy.cut = null;
    expect(proxy.cuts).toHaveLength(1);
    expect(err.code).toBe('inputs_sync');
    expect(err.message).toContain(`copying the platform (${fx.ex.platform}) to the engine was interrupted`);
    expect(err.hint).toMatch(/Rerun the build/);
    noArtifact();
    expect(await noContainersSoon({ [LABEL.volume]: volume })).toEqual([]);

    const ctx = recorder(true);
    const result = await build(ctx);
    expect(result.path).toBe(join(fx.ex.dl, ARTIFACT));
    const resumed = sentLine(ctx);
    // The big file again (it did not all arrive), not the whole tree.
    expect(resumed.files).toBeGreaterThanOrEqual(1);
    expect(resumed.files).toBeLessThan(firstSend.files);
    expect(resumed.bytes).toMatch(/^8\.\d MiB$/);
    expect(readdirSync(fx.ex.dl)).toEqual([ARTIFACT]);
  });

  it('cut mid-download: artifact_transfer, no file under the final name nor a partial one, no container; the next build succeeds', async () => {
    rmSync(join(fx.ex.dl, ARTIFACT), { force: true });
    // ARTIFACT_MB: random bytes in the rootfs, so the artifact is big enough to be cut in the middle.
    const bloated = { make_args: ['ARTIFACT_MB=24'] };
    proxy.cut = { direction: 'download', request: DOWNLOAD, afterBytes: 4 * MB };
    const err = await failedBuild(bloated);
    proxy.cut = null;
    expect(proxy.cuts).toHaveLength(2);
    expect(err.code).toBe('artifact_transfer');
    expect(err.message).toMatch(/The artifact's copy from the build container was interrupted .*nothing was written under its name/);
    noArtifact();
    expect(await noContainersSoon({ [LABEL.volume]: volume })).toEqual([]);

    const ctx = recorder(true);
    const result = await build(ctx, bloated);
    expect(sentLine(ctx).files).toBe(0);
    expect(readdirSync(fx.ex.dl)).toEqual([ARTIFACT]);
    expect(result.size).toBeGreaterThan(24 * MB);
    expect((await docker.listVolumes()).Volumes?.map((v) => v.Name)).toContain(`${volume}-platform`);
  });

  /** A build whose steps' exec stream is cut (closed, or reset) after 1 MiB of make output: a lost connection, not a failed step. */
  async function lostMidStep(reset: boolean): Promise<void> {
    rmSync(join(fx.ex.dl, ARTIFACT), { force: true });
    // OUTPUT_MB: megabytes of make output, so that the exec stream is cut in the middle of the step.
    proxy.cut = { direction: 'download', request: EXEC_STREAM, afterBytes: 1 * MB, reset };
    const cutsBefore = proxy.cuts.length;
    const err = await failedBuild({ make_args: ['OUTPUT_MB=8'] });
    proxy.cut = null;
    expect(proxy.cuts.length).toBe(cutsBefore + 1);
    expect(err.code).not.toBe('step_failed');
    expect(err.message).toMatch(/connection to the engine .*dropped during the "make" step/);
    expect(err.hint).toMatch(/Rerun the build/);
    noArtifact();
    expect(await noContainersSoon({ [LABEL.volume]: volume })).toEqual([]);
  }

  it('cut mid-step (the exec stream): said as a lost connection, not as a failed step; no container; the next build succeeds', async () => {
    await lostMidStep(false);
    const result = await build(recorder(true));
    expect(result.steps.every((s) => s.status === 0)).toBe(true);
    expect(readdirSync(fx.ex.dl)).toEqual([ARTIFACT]);
  });

  it('reset mid-step (the exec stream, ECONNRESET): said as a lost connection, with what to do; no container', async () => {
    await lostMidStep(true);
  });

  /**
   * A build whose `request` stalls after `afterBytes` (the link gone silent), interrupted once it
   * waits there: interrupted, no artifact, no container (before the fixes: it never returned).
   */
  async function interruptedWhileStalled(request: RegExp, afterBytes: number, makeArgs: string[]): Promise<void> {
    rmSync(join(fx.ex.dl, ARTIFACT), { force: true });
    proxy.cut = { direction: 'download', request, afterBytes, stall: true };
    const stalledBefore = proxy.cuts.length;
    const ctx = recorder(true);
    let settled = false;
    const running = build(ctx, { make_args: makeArgs })
      .then(
        () => null,
        (e: unknown) => e,
      )
      .finally(() => (settled = true));
    while (proxy.cuts.length === stalledBefore && !settled) await new Promise((r) => setTimeout(r, 50));
    expect(proxy.cuts.length).toBe(stalledBefore + 1); // the request is stalled, the build waits for it
    ctx.controller.abort(new OpError('interrupted', 'interrupted (SIGINT)'));
    const err = await running;
    proxy.cut = null;
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).code).toBe('interrupted');
    noArtifact();
    expect(await noContainersSoon({ [LABEL.volume]: volume })).toEqual([]);
  }

  it("an interrupt while an exec is started over a link gone silent (the sync's finishing command): interrupted, no container", async () => {
    // A file the package did not have: this build sends it, then runs the sync's finishing command, whose
    // exec answer (its first bytes) never comes: the first exec of the build is stalled before its stream.
    writeFileSync(join(fx.ex.system, `new-${Date.now()}.txt`), 'x');
    await interruptedWhileStalled(EXEC_STREAM, 0, []);
  });

  it("an interrupt while the steps' output comes over a link gone silent: interrupted, no artifact, no container", async () => {
    await interruptedWhileStalled(EXEC_STREAM, 1 * MB, ['OUTPUT_MB=8']);
  });

  it('an interrupt while the artifact comes over a link gone silent: interrupted, no file under its name nor a partial one, no container', async () => {
    await interruptedWhileStalled(DOWNLOAD, 4 * MB, ['ARTIFACT_MB=24']);
  });
});

// Shared by the engine tests: the helper scripts in scripts/test-engines,
// moving the example image into another engine, a private environment for
// discovery, and one full build + clean of the example through whatever
// engine the environment names.
import { OpError } from '../../../src/errors.js';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { expect } from 'vitest';
import { loadImageStream } from '../../../src/engine/images.js';
import { LABEL } from '../../../src/engine/labels.js';
import { runClean } from '../../../src/runner/clean.js';
import { runJob, type JobResult } from '../../../src/runner/job/run-job.js';
import { parseJobSpec } from '../../../src/runner/spec.js';
import { recorder, ROOT, type Example } from '../helpers/example.js';

const run = promisify(execFile);

/** Runs scripts/test-engines/NAME; a failure carries the script's stderr. */
export async function engineScript(name: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(join(ROOT, 'scripts/test-engines', name), args, { maxBuffer: 16 * 1024 * 1024, timeout: 90_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`scripts/test-engines/${name} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Whether a command is on PATH (the tests fail, saying what to install, when it is not). */
export function hasCommand(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, cmd)));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** docker save from one engine, docker load into another. */
export async function copyImage(from: Docker, to: Docker, tag: string): Promise<void> {
  const stream = (await from.getImage(tag).get()) as AsyncIterable<Buffer>;
  const loaded = await loadImageStream(to, stream);
  expect(loaded.join(' ')).toContain(tag.split(':')[0]);
}

const DISCOVERY_VARS = [
  'DOCKER_HOST',
  'NERVES_DOCKER_TS_SSH',
  'DOCKER_TLS_VERIFY',
  'DOCKER_TLS',
  'DOCKER_CERT_PATH',
  'DOCKER_CONTEXT',
  'DOCKER_CONFIG',
  'NERVES_DEBUG',
  'NERVES_DOCKER_TS_REMOTE_OK',
];

/**
 * Runs `fn` with exactly these discovery variables set (the others unset),
 * then restores the environment. The runner reads process.env.
 */
export async function withEngineEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(DISCOVERY_VARS.map((k) => [k, process.env[k]]));
  for (const k of DISCOVERY_VARS) delete process.env[k];
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const k of DISCOVERY_VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

export function artifactOf(ex: Example): string {
  return join(ex.dl, 'example_system-portable-0.1.0-ABCDEF1.tar.gz');
}

/**
 * Builds the example through the engine the environment names and checks the
 * artifact and that `engine` (a client for that same engine) holds the build
 * volume and no container of it.
 */
export async function buildExample(ex: Example, engine: Docker): Promise<JobResult> {
  const result = await runJob('build', parseJobSpec(ex.spec()), recorder(true));
  expect(result.path).toBe(artifactOf(ex));
  expect(readdirSync(ex.dl)).toEqual(['example_system-portable-0.1.0-ABCDEF1.tar.gz']);
  expect(result.size).toBeGreaterThan(1000);
  expect(result.steps.map((s) => s.name)).toEqual(['create-build', 'make', 'make system', 'copy']);
  expect(await noContainersSoon(engine, { [LABEL.volume]: result.volume })).toEqual([]);
  const volumes = (await engine.listVolumes()).Volumes ?? [];
  expect(volumes.map((v) => v.Name)).toContain(result.volume);
  return result;
}

/** Cleans the example through the engine the environment names; the volume is gone from `engine`. */
export async function cleanExample(ex: Example, engine: Docker, volume: string): Promise<void> {
  const spec = ex.spec();
  const res = await runClean(
    { app: 'example_system', build_path: spec.build_path as string, cache_path: spec.cache_path as string },
    recorder(),
  );
  expect(res.volume).toBe(volume);
  expect(res.removed_volume).toBe(true);
  const volumes = (await engine.listVolumes()).Volumes ?? [];
  expect(volumes.map((v) => v.Name)).not.toContain(volume);
  expect(await noContainersSoon(engine, { [LABEL.package]: 'example_system' })).toEqual([]);
}

/** Waits until `engine` has no container with these labels: a job replies before its container's removal is done. */
export async function noContainersSoon(
  engine: Docker,
  labels: Record<string, string>,
  timeoutMs = 10_000,
): Promise<Docker.ContainerInfo[]> {
  const filters = JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await engine.listContainers({ all: true, filters });
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The OpError that `p` rejects with (the test fails when it resolves, or rejects with something else). */
export async function opError(p: Promise<unknown>): Promise<OpError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpError);
  return err as OpError;
}

// Test scaffolding for runner tests: a private copy of the example platform
// and system in a temp dir (so tests never touch the checkout), a job spec
// for it, and an OpContext that records what the runner reports. The engine
// is the real one.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll } from 'vitest';
import { CleanupRegistry } from '../../../src/protocol/cleanup.js';
import type { OpContext } from '../../../src/protocol/op-context.js';
import type { EventName } from '../../../src/protocol/messages.js';
import { LABEL } from '../../../src/engine/labels.js';
import { ensureExampleImages } from './images.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const NEW_TAG = 'localhost/nerves-docker-ts/example-br:0.1.0';
export const LEGACY_TAG = 'localhost/nerves-docker-ts/example-br-legacy:0.1.0';

export interface Example {
  dir: string;
  system: string;
  platform: string;
  dl: string;
  home: string;
  spec(overrides?: Record<string, unknown>): Record<string, unknown>;
  remove(): void;
}

/** Copies examples/ to a fresh temp dir whose name may hold awkward characters. */
export function copyExample(name = 'ndt-example-'): Example {
  const dir = mkdtempSync(join(tmpdir(), name));
  const system = join(dir, 'system');
  const platform = join(dir, 'platform');
  const filter = (src: string) => !/\/(_build|deps|\.nerves)(\/|$)|build\.log$/.test(src);
  cpSync(join(ROOT, 'examples/system'), system, { recursive: true, filter });
  cpSync(join(ROOT, 'examples/platform'), platform, { recursive: true, filter });
  const dl = join(dir, 'dl');
  const home = join(dir, 'home');
  const app = 'example_system';
  const base = `${app}-portable-0.1.0`;
  return {
    dir,
    system,
    platform,
    dl,
    home,
    spec: (overrides = {}) => ({
      app,
      pkg_path: system,
      version: '0.1.0',
      defconfig: 'nerves_defconfig',
      download_name: `${base}-ABCDEF1`,
      ext: '.tar.gz',
      download_dir: dl,
      build_path: join(system, '.nerves/artifacts', base),
      cache_path: join(dir, 'cache', base),
      platform_path: platform,
      platform_version: '1.28.1',
      docker: { dockerfile: join(ROOT, 'examples/platform/support/docker/nerves_system_br/Dockerfile'), tag: NEW_TAG },
      make_args: [],
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      term: 'xterm-256color',
      log_dir: dir,
      home,
      tty: false,
      keep_container: false,
      downloads_volume: null,
      ...overrides,
    }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Recorder extends OpContext {
  events: Array<{ event: EventName; data: unknown }>;
  prompts: string[];
  controller: AbortController;
  of(event: EventName): unknown[];
}

/** An OpContext that records events and answers prompts with `answer`. */
export function recorder(answer: unknown = true): Recorder {
  const controller = new AbortController();
  const events: Recorder['events'] = [];
  const prompts: string[] = [];
  return {
    id: 1,
    signal: controller.signal,
    cleanup: new CleanupRegistry(),
    controller,
    events,
    prompts,
    emit: (event, data) => events.push({ event, data }),
    prompt: async (message) => {
      prompts.push(message);
      return answer;
    },
    debug: () => {},
    of: (event) => events.filter((e) => e.event === event).map((e) => e.data),
  };
}

export const docker = new Docker();

export async function containersOf(labels: Record<string, string>): Promise<Docker.ContainerInfo[]> {
  const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
  return docker.listContainers({ all: true, filters: JSON.stringify(filters) });
}

/** Waits until no container carries the labels (removal finishes just after a job replies). */
export async function noContainersSoon(labels: Record<string, string>, timeoutMs = 5000): Promise<Docker.ContainerInfo[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await containersOf(labels);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function packageContainers(app = 'example_system'): Promise<Docker.ContainerInfo[]> {
  return containersOf({ [LABEL.package]: app });
}

/**
 * Removes a volume once no container uses it any more (a job's container is
 * removed just after the job replies); one already gone is fine.
 */
export async function removeVolumeQuietly(name: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await docker.getVolume(name).remove();
      return;
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code === 404 || Date.now() > deadline) return;
      // 409: in use; kept containers of the test go first.
      const users = await docker.listContainers({ all: true, filters: JSON.stringify({ volume: [name] }) });
      for (const c of users)
        if (c.Labels?.[LABEL.keep] === 'true')
          await docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function engineAnswers(): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

/**
 * Fails the suite with a clear message when no engine answers (make test
 * starts one); else makes sure the example images are in it (a fresh engine has none).
 */
export async function requireEngine(): Promise<void> {
  if (!(await engineAnswers())) throw new Error('No Docker engine answers: run scripts/docker-engine (make test does).');
  await ensureExampleImages();
}

export interface ExampleFixture {
  /** The private copy (set in beforeAll). */
  readonly ex: Example;
  /** Build volumes to remove in afterAll. */
  readonly volumes: string[];
}

/** A describe block's private example copy: made in beforeAll, removed with its volumes in afterAll. */
export function useExample(prefix?: string): ExampleFixture {
  let ex: Example | undefined;
  const volumes: string[] = [];
  beforeAll(async () => {
    await requireEngine();
    ex = copyExample(prefix);
  });
  afterAll(async () => {
    for (const v of volumes) await removeVolumeQuietly(v);
    if (ex) await removeVolumesUnder(ex.dir);
    ex?.remove();
  });
  return {
    get ex() {
      if (!ex) throw new Error('useExample: the copy is made in beforeAll');
      return ex;
    },
    volumes,
  };
}

/** What a shell one-off command wrote, from its `log` events. */
export function oneOffOutput(ctx: Recorder): { out: string; err: string } {
  const logs = ctx.of('log') as Array<{ stream: string; data: Buffer }>;
  const of = (stream: string) => Buffer.concat(logs.filter((l) => l.stream === stream).map((l) => l.data)).toString();
  return { out: of('stdout'), err: of('stderr') };
}

/** The build volumes (and their inputs' volumes) of every build whose build path lies under `dir`: what a test's builds made. */
export async function removeVolumesUnder(dir: string): Promise<void> {
  for (const v of (await docker.listVolumes()).Volumes ?? []) {
    if (!v.Labels?.[LABEL.buildPath]?.startsWith(`${dir}/`)) continue;
    for (const name of [v.Name, `${v.Name}-platform`, `${v.Name}-package`]) await removeVolumeQuietly(name);
  }
}

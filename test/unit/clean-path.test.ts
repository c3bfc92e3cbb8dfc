// `clean` deletes only the package's own artifact cache: a hostile or
// mistaken cache_path ("/", the home directory, ".../victim/important/..",
// another package's cache) is refused with clean_refused before anything is
// removed. runClean runs for real; with no .docker_id it never calls the engine.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runClean } from '../../src/runner/clean.js';
import { OpError } from '../../src/errors.js';

const app = 'my_system';
const pkgName = `${app}-portable-0.1.0`;
let dir: string;
let home: string;
let artifacts: string;
const saved = { HOME: process.env.HOME, NERVES_ARTIFACTS_DIR: process.env.NERVES_ARTIFACTS_DIR };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-clean-'));
});
afterAll(async () => {
  Object.assign(process.env, saved);
  if (saved.NERVES_ARTIFACTS_DIR === undefined) delete process.env.NERVES_ARTIFACTS_DIR;
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  home = await mkdtemp(join(dir, 'home-'));
  artifacts = join(home, '.nerves', 'artifacts');
  await mkdir(artifacts, { recursive: true });
  process.env.HOME = home;
  delete process.env.NERVES_ARTIFACTS_DIR;
});

const ctx = { emit: () => undefined };
const spec = (cache_path: string) => ({ app, build_path: join(dir, 'system', '.nerves', 'artifacts', pkgName), cache_path });

async function refused(cache_path: string): Promise<OpError> {
  const err = await runClean(spec(cache_path), ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpError);
  const e = err as OpError;
  expect(e.code).toBe('clean_refused');
  expect(e.hint).toContain("clean removes only the package's own artifact cache");
  expect(e.message).not.toContain('\n');
  return e;
}

async function victim(): Promise<string> {
  const v = await mkdtemp(join(dir, 'victim-'));
  await mkdir(join(v, 'important'));
  await writeFile(join(v, 'important', 'data'), 'keep me');
  return v;
}

describe('clean refuses paths that are not the package cache', () => {
  it('refuses "/"', async () => {
    expect((await refused('/')).message).toContain('it is the root directory');
  });

  it('refuses a path that resolves to another directory (".../victim/important/..")', async () => {
    const v = await victim();
    expect((await refused(join(v, 'important') + '/..')).message).toContain(`clean refuses to delete ${v} `);
    expect(existsSync(join(v, 'important', 'data'))).toBe(true);
  });

  it('refuses the home directory, a parent of it, and the artifacts dir', async () => {
    expect((await refused(home)).message).toContain('it is the home directory');
    expect((await refused(dir)).message).toContain('it holds the home directory');
    expect((await refused(artifacts)).message).toContain('it is the artifacts dir');
    expect(existsSync(artifacts)).toBe(true);
  });

  it("refuses another package's cache in the artifacts dir, and a symlinked parent leading elsewhere", async () => {
    await mkdir(join(artifacts, 'other_system-portable-1.0.0'));
    expect((await refused(join(artifacts, 'other_system-portable-1.0.0'))).message).toContain(`it is not ${app}'s artifact cache`);
    expect(existsSync(join(artifacts, 'other_system-portable-1.0.0'))).toBe(true);
    const v = await victim();
    await symlink(v, join(dir, 'link'));
    expect((await refused(join(dir, 'link', 'important'))).message).toContain(`clean refuses to delete ${join(v, 'important')}`);
    await rm(join(dir, 'link'));
  });
});

describe("clean removes the package's own cache", () => {
  it('in the artifacts dir (NERVES_ARTIFACTS_DIR too), and at a path named as the package', async () => {
    const own = join(artifacts, pkgName);
    await mkdir(own);
    await writeFile(join(own, 'x'), 'x');
    expect((await runClean(spec(own), ctx)).cache_path).toBe(own);
    expect(existsSync(own)).toBe(false);

    const other = await mkdtemp(join(dir, 'arts-'));
    process.env.NERVES_ARTIFACTS_DIR = other;
    await mkdir(join(other, `${app}-host-0.2.0`));
    await runClean(spec(join(other, `${app}-host-0.2.0`)), ctx);
    expect(existsSync(join(other, `${app}-host-0.2.0`))).toBe(false);

    const elsewhere = join(dir, 'cache', pkgName);
    await mkdir(elsewhere, { recursive: true });
    await runClean(spec(elsewhere), ctx);
    expect(existsSync(elsewhere)).toBe(false);
  });
});

describe('a .docker_id that cannot name a volume', () => {
  it('is said, asks nothing of the engine, and the cache is removed all the same', async () => {
    const own = join(artifacts, pkgName);
    await mkdir(own);
    const s = spec(own);
    await mkdir(s.build_path, { recursive: true });
    await writeFile(join(s.build_path, '.docker_id'), 'not a/volume id!\n');
    const events: Array<[string, unknown]> = [];
    // No engine runs for this test's clean: it must not be asked (an engine lookup would fail here as engine_unreachable).
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    try {
      const res = await runClean(s, { emit: (event: string, data: unknown) => void events.push([event, data]) });
      expect(res).toMatchObject({ volume: null, removed_volume: false, removed_containers: 0 });
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
    expect(existsSync(own)).toBe(false);
    const said = events.map(([, d]) => String(d)).join('\n');
    expect(said).toContain('.docker_id');
    expect(said).toContain('"not a/volume id!');
    expect(said).toMatch(/no build volume can have/);
  });
});

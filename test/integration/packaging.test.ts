// Packaging, as a user meets it: the npm package installed in another
// directory works (API and CLI); the Mix plugin works from a scratch Mix
// project with Node as the only other requirement, running the sidecar it
// ships in mix_plugin/priv/ (sidecar.mjs and its chunks in sidecar/, all
// committed): as a path dependency, as a git
// dependency with sparse: "mix_plugin" (README's migration step) and
// without it, and as what its Hex package holds (the files mix.exs lists).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/example.js';

const run = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  execFileSync(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 32 << 20,
  });

describe('packaging', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndt-pack-'));
  const npmProject = join(dir, 'npm-user');
  let binDir = '';
  const version = (JSON.parse(run('node', ['-p', 'JSON.stringify(require("./package.json"))'], ROOT)) as { version: string }).version;

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'priv/nerves-docker.mjs'))) throw new Error('priv/ is not built: run `npm run build` (make test does).');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('npm pack yields a package that works when installed elsewhere', () => {
    const tgz = run('npm', ['pack', '--silent', '--pack-destination', dir], ROOT).trim().split('\n').at(-1)!;
    run('mkdir', ['-p', npmProject], dir);
    writeFileSync(join(npmProject, 'package.json'), JSON.stringify({ name: 'npm-user', version: '1.0.0', type: 'module', private: true }));
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', join(dir, tgz)], npmProject);
    binDir = join(npmProject, 'node_modules/.bin');
    // tsc's output ships as types only: the code is the bundle's.
    const installed = join(npmProject, 'node_modules/nerves-docker-ts');
    expect([existsSync(join(installed, 'dist/index.d.ts')), existsSync(join(installed, 'dist/index.js'))]).toEqual([true, false]);
    expect(run(join(binDir, 'nerves-docker'), ['version'], npmProject).trim()).toBe(version);
    const api = run(
      'node',
      [
        '--input-type=module',
        '-e',
        "import * as m from 'nerves-docker-ts'; console.log(m.parseDockerVersion('0017000.00300.00001000-ce').text, typeof m.buildLayeredImage, typeof m.runJob)",
      ],
      npmProject,
    );
    expect(api.trim()).toBe('17000.300.1000-ce function function');
    // The entry is the bundle (priv/index.mjs); it loads no engine client until a runner function runs (it
    // cost ~200 ms); then the function works. Every file Node loads is recorded by a load hook; a file holds
    // dockerode when its source map names it.
    writeFileSync(
      join(npmProject, 'loads.mjs'),
      // (A static import: one made inside the hook would go through the hook itself and never settle.)
      `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.NDT_LOADS, url + '\\n');
  return next(url, context);
}`,
    );
    const loads = join(npmProject, 'loads.txt');
    const holdsDockerode = (files: string[]) =>
      files.some((f) =>
        (JSON.parse(readFileSync(`${f}.map`, 'utf8')) as { sources: string[] }).sources.some((s) => s.includes('/dockerode/')),
      );
    const lazy = run(
      'node',
      [
        '--input-type=module',
        '-e',
        [
          "import { register } from 'node:module';",
          "import { readFileSync } from 'node:fs';",
          "register('./loads.mjs', import.meta.url);",
          "const m = await import('nerves-docker-ts');",
          "const ours = () => readFileSync(process.env.NDT_LOADS, 'utf8').split('\\n').filter((u) => u.includes('/node_modules/nerves-docker-ts/priv/'));",
          'const before = ours();',
          "const spec = m.parseCleanSpec({ app: 'x', build_path: '/nonexistent-ndt', cache_path: '/' });",
          "const code = await m.runClean(spec, { emit() {} }).then(() => 'ok', (e) => e.code);",
          'console.log(JSON.stringify({ before, after: ours(), code, engine: typeof m.defaultEngine }));',
        ].join('\n'),
      ],
      npmProject,
      { NDT_LOADS: loads },
    );
    const probe = JSON.parse(lazy.trim()) as { before: string[]; after: string[]; code: string; engine: string };
    const files = (urls: string[]) => urls.map((u) => fileURLToPath(u));
    expect(probe.before[0]).toMatch(/\/priv\/index\.mjs$/);
    expect(holdsDockerode(files(probe.before))).toBe(false);
    expect(holdsDockerode(files(probe.after))).toBe(true);
    expect([probe.code, probe.engine]).toEqual(['clean_refused', 'function']);
    // A TypeScript user type-checks against the types the package ships (strict, the libraries' .d.ts
    // checked too): every type they name is installed with it (dockerode's, whose client `Engine` is).
    writeFileSync(
      join(npmProject, 'use.ts'),
      [
        "import { defaultEngine, loadImageStream, parseDockerVersion, streamLayeredImage, type Engine } from 'nerves-docker-ts';",
        "const s = await streamLayeredImage({ name: 'x', contents: ['/nonexistent-ndt'] });",
        'const engine: Engine = await defaultEngine();',
        'const refs: string[] = await loadImageStream(engine, s.stream);',
        "console.log(refs, parseDockerVersion('20.10.0').text);",
      ].join('\n'),
    );
    writeFileSync(
      join(npmProject, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['use.ts'],
      }),
    );
    let typeErrors = '';
    try {
      run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', npmProject], npmProject);
    } catch (e) {
      typeErrors = String((e as { stdout?: string }).stdout ?? e); // tsc reports on stdout
    }
    expect(typeErrors).toBe('');
  }, 300_000);

  function mixProject(name: string, dep: string): string {
    const p = join(dir, name);
    run('mkdir', ['-p', p], dir);
    writeFileSync(
      join(p, 'mix.exs'),
      `defmodule ${name.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase())}.MixProject do
  use Mix.Project
  def project, do: [app: :${name}, version: "0.1.0", deps: [${dep}]]
end
`,
    );
    return p;
  }

  it('the Mix plugin as a path dependency runs the sidecar it ships', () => {
    const p = mixProject('path_user', `{:nerves_docker_ts, path: ${JSON.stringify(join(ROOT, 'mix_plugin'))}}`);
    run('mix', ['deps.get'], p);
    const out = run('mix', ['nerves_docker_ts.ping'], p);
    expect(out).toContain(`sidecar ${version} (protocol 1`);
    expect(out).toMatch(/engine: docker \S+ \(API/);
    // The plugin's own priv/ (through _build), not the checkout's priv/ that `npm run build` also fills.
    expect(out).toMatch(/sidecar entry: \S+\/nerves_docker_ts\/priv\/sidecar\.mjs\n/);
  }, 300_000);

  /** The shipped sidecar's files under a plugin directory, path -> bytes (the entry and every chunk). */
  const shippedFiles = (plugin: string) =>
    new Map(
      ['sidecar.mjs', ...readdirSync(join(plugin, 'priv/sidecar')).map((f) => `sidecar/${f}`)].map((f) => [
        f,
        readFileSync(join(plugin, 'priv', f)),
      ]),
    );
  const lostBundleError = (p: string) => {
    let err = '';
    try {
      run('mix', ['nerves_docker_ts.ping'], p, { NERVES_DOCKER_TS_SIDECAR: '' });
    } catch (e) {
      err = String((e as { stderr?: string }).stderr ?? e);
    }
    return err;
  };

  const branch = () => run('git', ['rev-parse', '--abbrev-ref', 'HEAD'], ROOT).trim();
  const pinged = (p: string) => {
    const out = run('mix', ['nerves_docker_ts.ping'], p, { NERVES_DOCKER_TS_SIDECAR: '' });
    expect(out).toContain(`sidecar ${version} (protocol 1`);
    expect(out).toMatch(/engine: docker \S+ \(API/);
    expect(out).toMatch(/sidecar entry: \S+\/nerves_docker_ts\/priv\/sidecar\.mjs\n/);
    return out;
  };

  it('the Mix plugin as a git dependency with sparse: "mix_plugin" runs the sidecar it ships, with Node alone', () => {
    const p = mixProject(
      'git_user',
      `{:nerves_docker_ts, git: ${JSON.stringify(ROOT)}, branch: ${JSON.stringify(branch())}, sparse: "mix_plugin", runtime: false}`,
    );
    run('mix', ['deps.get'], p);
    // Only mix_plugin/ is checked out: no TypeScript, no node_modules, no checkout build; the shipped bundle.
    expect(existsSync(join(p, 'deps/nerves_docker_ts/mix_plugin/lib/nerves_docker_ts/sidecar.ex'))).toBe(true);
    expect(existsSync(join(p, 'deps/nerves_docker_ts/src'))).toBe(false);
    expect(existsSync(join(p, 'deps/nerves_docker_ts/priv'))).toBe(false);
    expect(existsSync(join(p, 'deps/nerves_docker_ts/node_modules'))).toBe(false);
    const shipped = join(p, 'deps/nerves_docker_ts/mix_plugin/priv/sidecar.mjs');
    expect(readFileSync(shipped).equals(readFileSync(join(ROOT, 'mix_plugin/priv/sidecar.mjs')))).toBe(true);
    // The whole bundle came along: the entry and the chunks it imports, no more and no less.
    const have = shippedFiles(join(p, 'deps/nerves_docker_ts/mix_plugin'));
    const want = shippedFiles(join(ROOT, 'mix_plugin'));
    expect([...have.keys()].sort()).toEqual([...want.keys()].sort());
    expect([...have].every(([f, bytes]) => bytes.equals(want.get(f)!))).toBe(true);
    expect(have.size).toBeGreaterThan(2);
    pinged(p);
    // The installed npm package's sidecar, named by NERVES_DOCKER_TS_SIDECAR, still overrides it.
    expect(binDir).not.toBe('');
    const installed = join(npmProject, 'node_modules/nerves-docker-ts/priv/sidecar.mjs');
    expect(run('mix', ['nerves_docker_ts.ping'], p, { NERVES_DOCKER_TS_SIDECAR: installed })).toContain(`sidecar ${version} (protocol 1`);
    // A copy that lost its chunks, then its bundle, says what to do.
    rmSync(join(p, 'deps/nerves_docker_ts/mix_plugin/priv/sidecar'), { recursive: true });
    expect(lostBundleError(p)).toContain('mix deps.clean nerves_docker_ts && mix deps.get');
    rmSync(shipped);
    const err = lostBundleError(p);
    expect(err).toContain('mix deps.clean nerves_docker_ts && mix deps.get');
    expect(err).toContain('npm install -g nerves-docker-ts');
    expect(err).toContain('NERVES_DOCKER_TS_SIDECAR');
  }, 300_000);

  it('the Mix plugin as a git dependency of the whole repository (no sparse) runs the sidecar it ships, unbuilt checkout and all', () => {
    const p = mixProject(
      'full_git_user',
      `{:nerves_docker_ts, git: ${JSON.stringify(ROOT)}, branch: ${JSON.stringify(branch())}, subdir: "mix_plugin", runtime: false}`,
    );
    run('mix', ['deps.get'], p);
    expect(existsSync(join(p, 'deps/nerves_docker_ts/src'))).toBe(true);
    expect(existsSync(join(p, 'deps/nerves_docker_ts/priv'))).toBe(false);
    // Found first: no `npm install && npm run build` in the dependency's checkout.
    expect(pinged(p)).not.toContain('building the sidecar');
    expect(existsSync(join(p, 'deps/nerves_docker_ts/node_modules'))).toBe(false);
  }, 300_000);

  it('the Mix plugin as its Hex package holds it (the files mix.exs lists, nothing else) runs the sidecar it ships', () => {
    const files = run(
      'mix',
      ['run', '--no-compile', '--no-start', '-e', 'IO.puts(Enum.join(Mix.Project.config()[:package][:files], "\\n"))'],
      join(ROOT, 'mix_plugin'),
    )
      .trim()
      .split('\n');
    expect(files).toContain('priv/sidecar.mjs');
    expect(files).toContain('priv/sidecar');
    const pkg = join(dir, 'hex_pkg');
    for (const f of files) cpSync(join(ROOT, 'mix_plugin', f), join(pkg, f), { recursive: true });
    const p = mixProject('hex_user', `{:nerves_docker_ts, path: ${JSON.stringify(pkg)}, runtime: false}`);
    run('mix', ['deps.get'], p);
    pinged(p);
  }, 300_000);
});

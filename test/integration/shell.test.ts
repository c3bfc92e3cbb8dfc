// The system shell on a real terminal (tmux) against the real engine: `mix
// nerves_docker_ts.shell` on a copy of the example system whose path holds
// spaces and quotes; prompt, build dir, resize, Ctrl-C, exit status, the
// terminal restored, no container left. Plus the paths without a terminal.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL } from '../../src/engine/labels.js';
import { runClean } from '../../src/runner/clean.js';
import { runShell } from '../../src/runner/shell/shell.js';
import { parseJobSpec } from '../../src/runner/spec.js';
import { parseShellOptions } from '../../src/runner/shell/shell.js';
import { OpError } from '../../src/errors.js';
import {
  containersOf,
  copyExample,
  oneOffOutput,
  recorder,
  removeVolumeQuietly,
  ROOT,
  requireEngine,
  type Example,
} from './helpers/example.js';

const run = promisify(execFile);
const SOCKET = `ndt-shell-test-${process.pid}`;
const SESSION = 'shell';

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}

/** A detached 100x30 tmux session running `script` in the example system, as a user's terminal would. */
function startMixInTmux(session: string, ex: Example, script: string): void {
  const env = [`NERVES_DL_DIR=${ex.dl}`, 'NERVES_DOCKER_TS_YES=1', `HOME=${process.env.HOME ?? ex.home}`].flatMap((e) => ['-e', e]);
  tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', '-c', ex.system, ...env, '--', 'bash', '--norc', '-c', script);
}

function screen(target = SESSION): string {
  return tmux('capture-pane', '-p', '-J', '-t', target, '-S', '-300');
}

async function waitFor(re: RegExp, timeoutMs = 60_000, target = SESSION): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const text = screen(target);
    if (re.test(text)) return text;
    if (Date.now() > until) throw new Error(`timed out waiting for ${re} on the terminal:\n${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Types a line into the pane (literally, then Enter). */
function type(line: string, target = SESSION): void {
  tmux('send-keys', '-t', target, '-l', line);
  tmux('send-keys', '-t', target, 'Enter');
}

/** An Elixir string literal of a path. */
function exString(s: string): string {
  return `"${s.replace(/[\\"#]/g, (c) => `\\${c}`)}"`;
}

function volumeOf(ex: Example): string | null {
  try {
    const id = readFileSync(join(ex.system, '.nerves/artifacts/example_system-portable-0.1.0/.docker_id'), 'utf8').trim();
    return `example_system-${id}`;
  } catch {
    return null;
  }
}

async function shellContainers() {
  return containersOf({ [LABEL.kind]: 'shell', [LABEL.package]: 'example_system' });
}

describe('mix nerves_docker_ts.shell on a real terminal', () => {
  let ex: Example;

  beforeAll(async () => {
    await requireEngine();
    ex = copyExample(`ndt shell "q" 'x' `);
    // The copy's plugin dependency points back at this checkout.
    const mixExs = join(ex.system, 'mix.exs');
    writeFileSync(mixExs, readFileSync(mixExs, 'utf8').replace('path: "../../mix_plugin"', `path: ${exString(join(ROOT, 'mix_plugin'))}`));
    mkdirSync(ex.home, { recursive: true });
    // Paths are never put in the script: cwd and env come through tmux's own options.
    const script =
      'export TERM=xterm-256color; mix nerves_docker_ts.shell; echo "EXIT=$?"; ' +
      'printf "MODES: %s\\n" "$(stty -a | tr " ;" "\\n\\n" | grep -x -e icanon -e -icanon -e echo -e -echo -e isig -e -isig | tr "\\n" " ")"; ' +
      'sleep 600';
    startMixInTmux(SESSION, ex, script);
  });

  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    for (const c of await shellContainers()) await run('docker', ['rm', '-f', c.Id]).catch(() => {});
    const volume = ex && volumeOf(ex);
    if (volume) await removeVolumeQuietly(volume);
    ex?.remove();
  });

  it('shows the hint and the Nerves prompt', async () => {
    const text = await waitFor(/ Nerves +project > *$/m, 110_000);
    expect(text).toContain('Updating build directory.');
    expect(text).toContain('Use ctrl+d or exit to leave the container shell');
    expect(await shellContainers()).toHaveLength(1);
  });

  it('lists the build directory that create-build prepared', async () => {
    type('ls; echo "LS-DONE-$((40+2))"');
    const text = await waitFor(/LS-DONE-42/);
    const out = text.slice(text.lastIndexOf('echo "LS-DONE'));
    expect(out).toMatch(/\bMakefile\b/);
    expect(out).toMatch(/\bdl\b/);
  });

  it('a clean of the package while the shell is open is refused, naming the shell, which goes on', async () => {
    const spec = ex.spec();
    const ctx = recorder();
    await expect(
      runClean({ app: 'example_system', build_path: spec.build_path as string, cache_path: spec.cache_path as string }, ctx),
    ).rejects.toMatchObject({ code: 'locked', message: expect.stringContaining('another shell of this package is running') });
    expect(await shellContainers()).toHaveLength(1);
    type('echo "STILL-$((40+2))"');
    await waitFor(/^STILL-42$/m, 10_000);
  });

  it('passes the window size at start and on resize', async () => {
    type('echo "SIZE-A $(stty size)"');
    await waitFor(/^SIZE-A 30 100$/m);
    tmux('resize-window', '-t', SESSION, '-x', '120', '-y', '40');
    await new Promise((r) => setTimeout(r, 700));
    type('echo "SIZE-B $(stty size)"');
    await waitFor(/^SIZE-B 40 120$/m);
  });

  it('sends Ctrl-C to the shell in the container, which survives it', async () => {
    type('sleep 100');
    await new Promise((r) => setTimeout(r, 700));
    tmux('send-keys', '-t', SESSION, 'C-c');
    type('echo "ALIVE-$((6*7))"');
    await waitFor(/^ALIVE-42$/m, 10_000);
    // The prompt comes from the rcfile; ~/.bashrc got nothing appended.
    type('echo "RC-$(grep -c Nerves ~/.bashrc 2>/dev/null || true)-END"');
    await waitFor(/^RC-0?-END$/m, 10_000);
  });

  it('exit 3 makes Mix raise with status 3, restores the terminal and leaves no container', async () => {
    type('exit 3');
    const text = await waitFor(/^MODES: .*$/m, 30_000);
    expect(text).toContain('** (Mix) Nerves shell exited with status 3');
    expect(text).toMatch(/^EXIT=1$/m);
    const modes = /^MODES: (.*)$/m.exec(text)![1]!.trim().split(/\s+/).sort();
    expect(modes).toEqual(['echo', 'icanon', 'isig']);
    expect(await shellContainers()).toEqual([]);
  });

  it('without a terminal (new session, no tty) Mix says so; `-- CMD` runs one command instead', async () => {
    const opts = { cwd: ex.system, env: { ...process.env, NERVES_DL_DIR: ex.dl, NERVES_DOCKER_TS_YES: '1' } };
    const refused = await run('setsid', ['-w', 'mix', 'nerves_docker_ts.shell'], opts).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toContain('The Nerves system shell needs an interactive terminal');
    expect(refused?.stderr).toContain('mix nerves_docker_ts.shell -- CMD');
    const oneOff = await run('setsid', ['-w', 'mix', 'nerves_docker_ts.shell', '--', 'sh', '-c', 'ls; exit 5'], opts).then(
      () => null,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(oneOff?.stdout).toMatch(/^Makefile$/m);
    expect(oneOff?.stderr).toContain('Nerves shell exited with status 5');
    expect(await shellContainers()).toEqual([]);
  });
});

describe('mix nerves_docker_ts.shell with a TERM the image lacks, typed into before its prompt', () => {
  const EARLY = 'early';
  let ex: Example;

  beforeAll(async () => {
    await requireEngine();
    ex = copyExample('ndt-shell-early-');
    const mixExs = join(ex.system, 'mix.exs');
    writeFileSync(mixExs, readFileSync(mixExs, 'utf8').replace('path: "../../mix_plugin"', `path: ${exString(join(ROOT, 'mix_plugin'))}`));
    // A slow preparation (this private copy's create-build.sh sleeps 3 s first): time to type before the prompt.
    const cb = join(ex.platform, 'create-build.sh');
    writeFileSync(cb, readFileSync(cb, 'utf8').replace('set -euo pipefail\n', 'set -euo pipefail\nsleep 3\n'));
    mkdirSync(ex.home, { recursive: true });
    // The example image has terminfo for xterm-256color, xterm, vt100, linux and dumb: not tmux-256color.
    const script = 'export TERM=tmux-256color NERVES_DEBUG=1; mix nerves_docker_ts.shell; echo "EXIT=$?"; sleep 600';
    startMixInTmux(EARLY, ex, script);
  });

  afterAll(async () => {
    try {
      tmux('kill-session', '-t', EARLY);
    } catch {
      // already gone
    }
    for (const c of await shellContainers()) await run('docker', ['rm', '-f', c.Id]).catch(() => {});
    const volume = ex && volumeOf(ex);
    if (volume) await removeVolumeQuietly(volume);
    ex?.remove();
  });

  it('keeps the keys typed while the shell is prepared, and falls back to a TERM the image has, saying so', async () => {
    await waitFor(/Updating build directory\./, 110_000, EARLY);
    type('echo "EARLY-$((40+2))"', EARLY);
    expect(screen(EARLY)).not.toMatch(/ Nerves +project > /);
    await waitFor(/^EARLY-42$/m, 30_000, EARLY);
    type('echo "TERM-IS $TERM"', EARLY);
    const text = await waitFor(/^TERM-IS \S+$/m, 10_000, EARLY);
    expect(text).toMatch(/^TERM-IS xterm-256color$/m);
    expect(text).toContain(
      'nerves_docker_ts: the build image has no terminfo entry for TERM=tmux-256color; the shell uses TERM=xterm-256color',
    );
    type('exit', EARLY);
    await waitFor(/^EXIT=0$/m, 30_000, EARLY);
  });
});

describe('the shell without a terminal', () => {
  let ex: Example;
  beforeAll(() => {
    ex = copyExample(`ndt shell notty "q" `);
  });
  afterAll(async () => {
    const volume = volumeOf(ex);
    if (volume) await removeVolumeQuietly(volume);
    ex?.remove();
  });

  it('an interactive shell is refused with a clear error, before any container exists', async () => {
    const ctx = recorder(true);
    const args = { ...ex.spec(), tty_path: '/nonexistent/tty' };
    const err = await runShell(parseJobSpec(args), parseShellOptions(args), ctx).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).code).toBe('no_tty');
    expect((err as OpError).message).toContain('needs an interactive terminal');
    expect((err as OpError).hint).toContain('-- CMD');
    expect(await shellContainers()).toEqual([]);
  });

  it('a one-off command runs in the prepared build dir and returns its output and status', async () => {
    const ctx = recorder(true);
    const args = { ...ex.spec(), tty_path: '/nonexistent/tty', cmd: ['sh', '-c', 'ls; echo oops >&2; exit 4'] };
    const res = await runShell(parseJobSpec(args), parseShellOptions(args), ctx);
    expect(res.status).toBe(4);
    const { out, err } = oneOffOutput(ctx);
    expect(out).toMatch(/\bMakefile\b/);
    expect(err).toBe('oops\n');
    expect(await shellContainers()).toEqual([]);
  });
});

// `nerves-docker image pull-image` (the bundled CLI, as a user runs it)
// against the hostile registry: interrupted by SIGTERM or SIGINT in the
// middle of a layer it removes its temporary directory and its .partial
// file and exits with 130; the rate and deadline flags work and failures are
// a message and a hint, never a stack trace.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { drip, startHostileRegistry, type HostileRegistry } from './hostile-registry.js';

const CLI = resolve(import.meta.dirname, '../../../priv/nerves-docker.mjs');
let reg: HostileRegistry;
let dir: string;
let outDir: string;
let tmp: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('priv/ is not built: run `npm run build` (make test does).');
  dir = await mkdtemp(join(tmpdir(), 'ndt-hostile-cli-'));
  reg = await startHostileRegistry();
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  outDir = await mkdtemp(join(dir, 'out-'));
  tmp = await mkdtemp(join(dir, 'tmp-'));
  reg.onBlob.clear();
});

function pull(digest: string, extra: string[] = []) {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'image',
      'pull-image',
      '--image-name',
      reg.name,
      '--image-digest',
      digest,
      '--no-tls-verify',
      '--out',
      join(outDir, 'img.tar'),
      ...extra,
    ],
    {
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exit, stderr: () => stderr };
}

/** A manifest whose layer is declared at 1 GB, served by a slow drip: the pull stays in the middle of it. */
async function slowLayerImage(): Promise<string> {
  const m = JSON.parse(
    Buffer.from(await (await fetch(`http://${reg.host}/v2/hostile/img/manifests/${reg.digest}`)).arrayBuffer()).toString(),
  );
  m.layers[0].size = 10 ** 9;
  reg.onBlob.set(m.layers[0].digest, drip(Buffer.alloc(1024, 0x61), 20));
  return reg.serveManifest(m);
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Some bytes of the layer are on disk and the .partial archive exists. */
async function midLayer(): Promise<boolean> {
  const [pullDir] = (await readdir(tmp)).filter((n) => n.startsWith('ndt-pull-'));
  const partial = (await readdir(outDir)).some((n) => n.startsWith('.img.tar.partial-'));
  if (!pullDir || !partial) return false;
  const size = await stat(join(tmp, pullDir, 'layer-0.tar')).then(
    (s) => s.size,
    () => 0,
  );
  return size > 0;
}

describe('pull-image interrupted, or too slow', () => {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`${sig} in the middle of a layer removes the temp dir and the .partial file, exit 130`, async () => {
      const p = pull(await slowLayerImage());
      await until('the pull to be in the middle of the layer', midLayer);
      p.child.kill(sig);
      expect(await p.exit).toBe(130);
      expect(p.stderr()).toContain(`interrupted (${sig})`);
      expect(p.stderr()).not.toMatch(/^\s+at /m);
      expect(await readdir(tmp)).toEqual([]);
      expect(await readdir(outDir)).toEqual([]);
    });
  }

  it('--min-rate / --rate-window and --request-timeout end a slow pull with a message and a hint', async () => {
    const digest = await slowLayerImage();
    const slow = pull(digest, ['--min-rate', '1000000', '--rate-window', '0.5']);
    expect(await slow.exit).toBe(1);
    const lines = slow.stderr().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^nerves-docker image pull-image: fetching .* is too slow: \d+ bytes\/s over 0.5 s, below the minimum of 1000000$/,
    );
    expect(lines[1]).toContain('--request-timeout');
    const late = pull(digest, ['--request-timeout', '1']);
    expect(await late.exit).toBe(1);
    expect(late.stderr()).toContain('did not finish within the request deadline of 1 s');
    expect(await readdir(tmp)).toEqual([]);
    expect(await readdir(outDir)).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm, writeFile, readFile, mkdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseImageArgs, runImageCommand } from '../../../src/cli/image.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('image CLI', () => {
  it('maps kebab-case flags to nixpkgs option names, with arrays, numbers, JSON and booleans', async () => {
    const spec = join(dir, 'spec.json');
    await writeFile(spec, JSON.stringify({ name: 'from-spec', tag: 's', maxLayers: 10 }));
    const o = await parseImageArgs('build-layered-image', [
      '--spec',
      spec,
      '--name',
      'flag/wins',
      '--contents',
      '/a',
      '--contents=/b',
      '--max-layers',
      '3',
      '--config',
      '{"Cmd":["/bin/sh"]}',
      '--out',
      'x.tar',
    ]);
    expect(o).toEqual({ name: 'flag/wins', tag: 's', maxLayers: 3, contents: ['/a', '/b'], config: { Cmd: ['/bin/sh'] }, out: 'x.tar' });
    expect(
      await parseImageArgs('pull-image', ['--image-name', 'a', '--image-digest', 'sha256:x', '--no-tls-verify', '--out', 'o']),
    ).toMatchObject({ tlsVerify: false });
    expect(await parseImageArgs('build-container', ['--out', 'b', '--readonly', '--', '/bin/sh', '-c', 'echo --x'])).toEqual({
      out: 'b',
      readonly: true,
      args: ['/bin/sh', '-c', 'echo --x'],
    });
  });

  it('reports usage errors with status 64 and invalid options with status 65 (as every nerves-docker command)', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runImageCommand(['build-layered-image', '--name', 'x'])).toBe(64);
      expect(String(err.mock.calls[0]?.[0])).toContain('missing --out');
      expect(await runImageCommand(['nope'])).toBe(64);
      expect(await runImageCommand(['build-layered-image', '--name', 'x', '--max-layers', '126', '--out', join(dir, 'o.tar')])).toBe(65);
      expect(err.mock.calls.map((c) => String(c[0])).join('')).toContain('maxLayers must be at most 125 (got 126)');
    } finally {
      err.mockRestore();
    }
  });

  it('a usage mistake prints the usage on stderr (stdout stays empty), an unknown word is unknown even if Object has it', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runImageCommand([])).toBe(64);
      expect(await runImageCommand(['nope', '--help'])).toBe(64);
      for (const word of ['toString', 'constructor', '__proto__']) expect(await runImageCommand([word])).toBe(64);
      expect(out).not.toHaveBeenCalled();
      const text = err.mock.calls.map((c) => String(c[0])).join('');
      expect(text).toContain('usage: nerves-docker image <subcommand>');
      expect(text).toContain('nerves-docker image toString: unknown image subcommand "toString"');
      expect(text).not.toContain('Cannot read properties');
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });

  it('stream-layered-image refuses a terminal as stdout (the archive is binary) before building anything', async () => {
    const contents = join(dir, 'tty-contents');
    await mkdir(contents, { recursive: true });
    await writeFile(join(contents, 'f'), 'x');
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const wasTTY = process.stdout.isTTY;
    Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true });
    try {
      expect(await runImageCommand(['stream-layered-image', '--name', 'tty/test', '--contents', contents])).toBe(64);
      expect(out).not.toHaveBeenCalled();
      const text = err.mock.calls.map((c) => String(c[0])).join('');
      expect(text).toContain('stream-layered-image writes the image archive to stdout, and stdout is a terminal');
      expect(text).toContain('`| docker load`, or pass --load');
    } finally {
      Object.defineProperty(process.stdout, 'isTTY', { value: wasTTY, configurable: true });
      out.mockRestore();
      err.mockRestore();
    }
  });

  it('runs shadow-setup and build-layered-image end to end', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const root = join(dir, 'root');
      expect(await runImageCommand(['shadow-setup', '--root', root, '--users', '[{"name":"app","uid":1000}]'])).toBe(0);
      expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toContain('app:x:1000:1000');
      await mkdir(join(dir, 'c'));
      await writeFile(join(dir, 'c', 'f'), 'x');
      expect(
        await runImageCommand(['build-layered-image', '--name', 'cli/test', '--contents', join(dir, 'c'), '--out', join(dir, 'img.tar')]),
      ).toBe(0);
      const printed = JSON.parse(String(out.mock.calls.at(-1)?.[0])) as { imageName: string; sha256: string };
      expect(printed.imageName).toBe('cli/test');
      expect(printed.sha256).toMatch(/^sha256:/);
    } finally {
      out.mockRestore();
    }
  });

  it('refuses unknown and misspelled flags and spec keys with the known ones, exit 64, before doing anything', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const said = () => err.mock.calls.map((c) => String(c[0])).join('');
    try {
      const out = join(dir, 'never.tar');
      expect(await runImageCommand(['build-layered-image', '--name', 'x', '--max-layer', '3', '--out', out])).toBe(64);
      expect(said()).toContain('unknown flag --max-layer for build-layered-image (did you mean --max-layers?)');
      expect(said()).toMatch(/known: .*--contents, .*--max-layers, .*--spec/);
      err.mockClear();
      expect(await runImageCommand(['build-image', '--name', 'x', '--confg', '{}', '--out', out])).toBe(64);
      expect(said()).toContain('unknown flag --confg for build-image (did you mean --config?)');
      const spec = join(dir, 'typo.json');
      await writeFile(spec, JSON.stringify({ name: 'x', out, maxLayer: 3 }));
      await expect(parseImageArgs('build-layered-image', ['--spec', spec])).rejects.toThrow(
        'unknown option "maxLayer" in the --spec file for build-layered-image (did you mean maxLayers?)',
      );
      await expect(parseImageArgs('export-image', ['--from-image', 'a', '--out', 'b', 'stray'])).rejects.toThrow(
        /Unexpected argument 'stray'/,
      );
      await expect(parseImageArgs('build-image', ['--name', 'x', '--out', 'o', '--uid', 'abc'])).rejects.toThrow(
        '--uid needs a number (got "abc")',
      );
      await expect(stat(out)).rejects.toThrow(/ENOENT/);
    } finally {
      err.mockRestore();
    }
  });

  it("takes --env repeated or as a JSON list, lists it in --help, and knows build-image's --extra-commands", async () => {
    expect(
      await parseImageArgs('build-container', ['--out', 'b', '--env', '["A=1","B=two words"]', '--env', 'C=3', '--', '/bin/sh']),
    ).toEqual({ out: 'b', env: ['A=1', 'B=two words', 'C=3'], args: ['/bin/sh'] });
    expect(await parseImageArgs('build-image', ['--name', 'x', '--out', 'o', '--extra-commands', 'touch f'])).toEqual({
      name: 'x',
      out: 'o',
      extraCommands: 'touch f',
    });
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await runImageCommand(['build-container', '--help'])).toBe(0);
      expect(String(out.mock.calls[0]?.[0])).toContain('--env K=V');
      expect(await runImageCommand(['build-image', '--help'])).toBe(0);
      expect(String(out.mock.calls[1]?.[0])).toContain('--extra-commands SH');
    } finally {
      out.mockRestore();
    }
  });

  it('says that enableFakechroot = false is not supported (true is what fakeRootCommands always do)', async () => {
    const { buildLayeredImage } = await import('../../../src/image/layered.js');
    const c = join(dir, 'fc');
    await mkdir(c, { recursive: true });
    expect(await parseImageArgs('build-layered-image', ['--name', 'x', '--out', 'o', '--enable-fakechroot'])).toMatchObject({
      enableFakechroot: true,
    });
    const err = await buildLayeredImage({
      name: 'x',
      contents: [c],
      fakeRootCommands: 'true',
      enableFakechroot: false,
      out: join(dir, 'fc.tar'),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'image_options' });
    expect((err as Error).message).toContain('enableFakechroot = false is not supported');
    await expect(stat(join(dir, 'fc.tar'))).rejects.toThrow(/ENOENT/);
  });
});

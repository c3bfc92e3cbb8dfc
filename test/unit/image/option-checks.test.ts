// Options the builders used to take and write into an image that docker
// load, skopeo or the kernel then refused (or silently read otherwise): the
// image config's types, the layering, uid/gid. Each is refused with
// image_options before anything is written, by the library as by the CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLayeredImage, streamLayeredImage } from '../../../src/image/layered.js';
import { buildImage } from '../../../src/image/build-image.js';
import { buildContainer } from '../../../src/image/container.js';
import { readFile } from 'node:fs/promises';
import { OpError } from '../../../src/errors.js';
import { failure } from './failure.js';

let dir: string;
let app: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-optcheck-'));
  app = join(dir, 'app');
  await mkdir(join(app, 'etc'), { recursive: true });
  await writeFile(join(app, 'etc', 'hello.txt'), 'hello\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const outputs = async () => (await readdir(dir)).filter((n) => n !== 'app');

describe('image config', () => {
  it('refuses a config that is not an object, before anything is written, in every builder', async () => {
    for (const config of [[1, 2], 'Cmd', 'null', null, 5]) {
      for (const build of [
        () => buildLayeredImage({ name: 'localhost/v/cfg', config: config as never, contents: [app], out: join(dir, 'c.tar') }),
        () => buildImage({ name: 'localhost/v/cfg', config: config as never, copyToRoot: [app], out: join(dir, 'c.tar') }),
        () => streamLayeredImage({ name: 'localhost/v/cfg', config: config as never, contents: [app] }),
      ]) {
        const err = await failure(build);
        expect(err, JSON.stringify(config)).toBeInstanceOf(OpError);
        expect(err.code).toBe('image_options');
        expect(err.message).toMatch(/^config must be a JSON object of image config fields \(got /);
        expect(err.hint).toContain('--config');
      }
    }
    expect(await outputs()).toEqual([]);
  });

  it("refuses the known fields with other types than Docker's image config has, naming the field and the value", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ Env: 'A=1' }, /^config\.Env must be a list of "NAME=value" strings \(got "A=1", a string\)$/],
      [{ Env: ['NOEQUALS'] }, /^config\.Env must be a list of "NAME=value" strings/],
      [{ Cmd: 'notalist' }, /^config\.Cmd must be a list of strings \(got "notalist", a string\)$/],
      [{ Entrypoint: ['/bin/sh', 1] }, /^config\.Entrypoint must be a list of strings/],
      [{ Volumes: ['/data'] }, /^config\.Volumes must be an object of keys to \{\}/],
      [{ ExposedPorts: { '80/tcp': true } }, /^config\.ExposedPorts must be an object of PORT or PORT\/tcp\|udp\|sctp keys to \{\}/],
      [{ ExposedPorts: { http: {} } }, /^config\.ExposedPorts must be/],
      [{ Labels: { a: 1 } }, /^config\.Labels must be an object of strings \(got \{"a":1\}, an object\)$/],
      [{ WorkingDir: 5 }, /^config\.WorkingDir must be a string \(got 5, an integer\)$/],
      [{ User: 0 }, /^config\.User must be a string/],
      [{ StopSignal: 9 }, /^config\.StopSignal must be a string/],
      [{ Healthcheck: { Test: 'curl' } }, /^config\.Healthcheck must be an object .*, its Test a list of strings/],
      [{ Healthcheck: { Test: ['CMD', 'true'], Interval: '30s' } }, /its Interval an integer of nanoseconds/],
      [{ ArgsEscaped: 'yes' }, /^config\.ArgsEscaped must be true or false/],
      // Go's JSON decoding (docker load, skopeo) matches a field whatever its case
      [{ cmd: 'notalist' }, /^config\.cmd must be a list of strings/],
    ];
    for (const [config, message] of cases) {
      const err = await failure(buildLayeredImage({ name: 'localhost/v/cfg', config, contents: [app], out: join(dir, 'c.tar') }));
      expect(err.code, JSON.stringify(config)).toBe('image_options');
      expect(err.message, JSON.stringify(config)).toMatch(message);
    }
    const err = await failure(
      buildLayeredImage({ name: 'localhost/v/cfg', config: { Cmd: 'notalist' }, contents: [app], out: join(dir, 'c.tar') }),
    );
    expect(err.message).toMatch(/^config\.Cmd must be a list of strings/);
    expect(await outputs()).toEqual([]);
  });

  it('takes every field of the spec with its type, null as absent, and fields it does not know', async () => {
    const config = {
      User: '1000:1000',
      ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8080': {} },
      Env: ['PATH=/bin', 'EMPTY='],
      Entrypoint: ['/bin/sh'],
      Cmd: ['-c', 'echo hi'],
      Volumes: { '/data': {} },
      WorkingDir: '/srv',
      Labels: { 'org.opencontainers.image.title': 'x' },
      StopSignal: 'SIGTERM',
      Healthcheck: { Test: ['CMD', 'true'], Interval: 30_000_000_000, Retries: 3 },
      ArgsEscaped: false,
      Shell: ['/bin/sh', '-c'],
      StopTimeout: 10,
      Entrypoint2: 'kept as given',
    };
    for (const [i, c] of [config, { Cmd: null, Entrypoint: null }, {}, undefined].entries()) {
      const r = await buildLayeredImage({ name: 'x', contents: [app], ...(c ? { config: c } : {}), out: join(dir, `ok-${i}.tar`) });
      expect(r.imageName).toBe('x');
    }
    await rm(join(dir, 'ok-0.tar'));
    await rm(join(dir, 'ok-1.tar'));
    await rm(join(dir, 'ok-2.tar'));
    await rm(join(dir, 'ok-3.tar'));
  });
});

describe('layering and ownership', () => {
  it('refuses a layering other than popularity, auto or size', async () => {
    for (const layering of ['bogus', 'Popularity', '']) {
      const err = await failure(buildLayeredImage({ name: 'x', contents: [app], layering: layering as never, out: join(dir, 'l.tar') }));
      expect(err.code).toBe('image_options');
      expect(err.message).toBe(`layering must be one of popularity, auto, size (got ${JSON.stringify(layering)}, a string)`);
    }
    expect(await outputs()).toEqual([]);
  });

  it('refuses a uid or gid that is not an integer from 0 to 4294967294', async () => {
    for (const [key, value] of [
      ['uid', -1],
      ['uid', 1.5],
      ['uid', 4294967296],
      ['uid', 4294967295],
      ['gid', -1],
      ['gid', 2.5],
      ['gid', 4294967296],
    ] as const) {
      for (const build of [
        () => buildLayeredImage({ name: 'x', contents: [app], [key]: value, out: join(dir, 'u.tar') }),
        () => buildImage({ name: 'x', copyToRoot: [app], [key]: value, out: join(dir, 'u.tar') }),
      ]) {
        const err = await failure(build);
        expect(err.code, `${key}=${value}`).toBe('image_options');
        expect(err.message).toBe(
          `${key} must be an integer from 0 to 4294967294 (got ${value}, ${Number.isInteger(value) ? 'an integer' : 'a number'})`,
        );
      }
    }
    expect(await outputs()).toEqual([]);
    for (const ok of [0, 4294967294]) {
      await buildLayeredImage({ name: 'x', contents: [app], uid: ok, gid: ok, out: join(dir, 'ok.tar') });
      await rm(join(dir, 'ok.tar'));
    }
  });
});

describe('buildContainer: what runc would refuse in the bundle', () => {
  it('refuses a uid/gid out of range, an env entry without "=", a relative cwd, before writing the bundle', async () => {
    const out = join(dir, 'bundle');
    const cases: [Record<string, unknown>, string][] = [
      [{ uid: -1 }, 'uid must be an integer from 0 to 4294967294 (got -1, an integer)'],
      [{ gid: 1.5 }, 'gid must be an integer from 0 to 4294967294 (got 1.5, a number)'],
      [{ env: ['NOEQUALS'] }, 'env entry "NOEQUALS" is not NAME=value (runc refuses a variable without "=" or with an empty name)'],
      [{ env: ['=x'] }, 'env entry "=x" is not NAME=value (runc refuses a variable without "=" or with an empty name)'],
      [{ cwd: 'relative/dir' }, 'cwd must be an absolute path in the container (got "relative/dir", a string)'],
      [{ mounts: 'notjson' }, 'mounts must be a JSON object of destinations or a list of mounts (got "notjson", a string)'],
      [{ mounts: { '/data': { source: 5 } } }, 'mount /data: source must be a string (got 5, an integer)'],
    ];
    for (const [extra, message] of cases) {
      const err = await failure(buildContainer({ out, args: ['/bin/sh'], ...extra }));
      expect(err.code, JSON.stringify(extra)).toBe('image_options');
      expect(err.message).toBe(message);
    }
    expect(await outputs()).toEqual([]);
  });

  it("keeps the default PATH and TERM for the variables env does not set (runc's default spec has both)", async () => {
    const out = join(dir, 'bundle-env');
    await buildContainer({ out, args: ['sh', '-c', 'echo hi'], env: ['A=1', 'TERM=dumb'] });
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as { process: { env: string[] } };
    expect(config.process.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1', 'TERM=dumb']);
    await rm(out, { recursive: true });
  });
});

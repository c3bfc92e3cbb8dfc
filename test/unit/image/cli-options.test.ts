// What a bad --spec file or flag value gives: an image_options error naming
// the option, the value and what is wanted, never a raw JavaScript error
// ("Cannot convert undefined or null to object", 'The "path" argument must
// be of type string', "object is not iterable") or a success with junk.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseImageArgs } from '../../../src/cli/image.js';
import { buildLayeredImage } from '../../../src/image/layered.js';
import { pullImage } from '../../../src/image/pull.js';
import { failure } from './failure.js';

let dir: string;
let app: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-cli-options-'));
  app = join(dir, 'app');
  await mkdir(app);
  await writeFile(join(app, 'f'), 'x');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** parseImageArgs with a --spec file holding `spec` (JSON text). */
async function withSpec(cmd: string, spec: string, flags: string[] = []) {
  const file = join(dir, 'spec.json');
  await writeFile(file, spec);
  return { file, run: parseImageArgs(cmd, ['--spec', file, ...flags]) };
}

describe('--spec file', () => {
  it('must hold a JSON object', async () => {
    for (const [text, got] of [
      ['null', 'null'],
      ['[1]', '[1], a list'],
      ['"x"', '"x", a string'],
    ] as const) {
      const { file, run } = await withSpec('build-layered-image', text);
      const err = await failure(run);
      expect(err.code, text).toBe('image_options');
      expect(err.message).toBe(`the options file ${file} must hold a JSON object of options (it holds ${got})`);
    }
  });

  it('that is not JSON says where, without quoting it', async () => {
    const { file, run } = await withSpec('build-layered-image', 'secretpassword123\n');
    const err = await failure(run);
    expect(err.code).toBe('image_options');
    expect(err.message).toBe(`the options file ${file} is not JSON (at line 1)`);
  });

  it('values of the type each option takes, named with the value', async () => {
    const cases: [string, string, string][] = [
      ['build-layered-image', `{"name":"x","out":"o.tar","contents":[5]}`, 'contents must be a list of strings (got [5], a list)'],
      ['build-layered-image', `{"name":"x","out":5}`, 'out must be a string (got 5, an integer)'],
      ['build-layered-image', `{"name":5,"out":"o.tar"}`, 'name must be a string (got 5, an integer)'],
      ['build-layered-image', `{"name":"x","out":"o.tar","maxLayers":"50"}`, 'maxLayers must be a number (got "50", a string)'],
      [
        'build-layered-image',
        `{"name":"x","out":"o.tar","includeStorePaths":"no"}`,
        'includeStorePaths must be true or false (got "no", a string)',
      ],
      [
        'build-container',
        `{"out":"b","args":"/bin/sh"}`,
        'args must be a list of strings (the command and its arguments) (got "/bin/sh", a string)',
      ],
    ];
    for (const [cmd, text, message] of cases) {
      const { file, run } = await withSpec(cmd, text);
      const err = await failure(run);
      expect(err.code, text).toBe('image_options');
      expect(err.message).toBe(`the options file ${file}: ${message}`);
    }
  });
});

describe('option values', () => {
  it("shadow-setup's users and groups are lists of objects", async () => {
    const err = await failure(parseImageArgs('shadow-setup', ['--root', dir, '--users', '{"bob":{"uid":1000}}']));
    expect(err.code).toBe('image_options');
    expect(err.message).toBe('users must be a JSON list of objects (got {"bob":{"uid":1000}}, an object)');
    expect(err.hint).toContain('[{"name": "bob", "uid": 1000}]');
  });

  it('build-container without a command says to give it after --', async () => {
    const err = await failure(parseImageArgs('build-container', ['--out', join(dir, 'b')]));
    expect(err.code).toBe('usage');
    expect(err.message).toBe('missing the command to run (after --, e.g. -- /bin/sh -c "echo hi")');
  });

  it('a closure graph file that is not JSON is named, with the option', async () => {
    const graph = join(dir, 'graph.json');
    // Without quoting it: V8's message quotes the start of the file.
    await writeFile(graph, 'secret-token\n');
    const err = await failure(buildLayeredImage({ name: 'x', contents: [app], closureGraph: graph, out: join(dir, 'g.tar') }));
    expect(err.code).toBe('image_options');
    expect(err.message).toBe(`closureGraph (--closure-graph): ${graph} is not JSON (at line 1)`);
    const missing = await failure(
      buildLayeredImage({ name: 'x', contents: [app], closureGraph: join(dir, 'absent.json'), out: join(dir, 'g.tar') }),
    );
    expect(missing.code).toBe('input_missing');
    expect(missing.message).toBe(`closureGraph (--closure-graph): ${join(dir, 'absent.json')} does not exist`);
  });

  it('maxLayers given as a string says so', async () => {
    const err = await failure(buildLayeredImage({ name: 'x', contents: [app], maxLayers: '50' as never, out: join(dir, 'm.tar') }));
    expect(err.message).toBe('maxLayers must be an integer of at least 2 (got "50", a string)');
  });

  it("pull-image's limits are named as the options (seconds), and minRate 0 is allowed", async () => {
    const base = { imageName: 'localhost:1/x', imageDigest: `sha256:${'a'.repeat(64)}`, out: join(dir, 'p.tar') };
    const timeout = await failure(pullImage({ ...base, requestTimeout: 0 }));
    expect(timeout.code).toBe('image_options');
    expect(timeout.message).toBe('requestTimeout must be a positive number (got 0, an integer)');
    expect(timeout.hint).toContain('--request-timeout');
    const rate = await failure(pullImage({ ...base, minRate: -5 }));
    expect(rate.message).toBe('minRate must be 0 or a positive number (got -5, an integer)');
    const window = await failure(pullImage({ ...base, rateWindow: 0 }));
    expect(window.message).toBe('rateWindow must be a positive number (got 0, an integer)');
    // minRate 0 passes the check: the pull goes on, to the registry that is not there
    const off = await failure(pullImage({ ...base, minRate: 0, requestTimeout: 2 }));
    expect(off.code).not.toBe('image_options');
    expect(await readdir(dir)).not.toContain('p.tar');
  });
});

// Each was taken without a word: the last --spec won, 0x10 read as 16, compressor ignored beside compress.
describe('flags that contradict themselves or another', () => {
  it('--spec given twice is refused, as any other flag given twice', async () => {
    const a = join(dir, 'a.json');
    await writeFile(a, '{}');
    const err = await failure(parseImageArgs('build-layered-image', ['--spec', a, '--spec', a]));
    expect(err).toMatchObject({ code: 'usage', message: '--spec given 2 times; it takes one options file' });
  });

  it('a number flag takes decimal numbers only', async () => {
    for (const v of ['0x10', '1e2', '16abc', ' '])
      expect(await failure(parseImageArgs('build-layered-image', ['--max-layers', v]))).toMatchObject({
        code: 'usage',
        message: `--max-layers needs a number (got "${v}")`,
      });
  });

  it('compress and compressor that disagree are refused; agreeing, either is fine', async () => {
    const out = join(dir, 'c.tar');
    const err = await failure(buildLayeredImage({ name: 'x', contents: [app], out, compress: 'gzip', compressor: 'none' }));
    expect(err).toMatchObject({ code: 'image_options', message: 'compress "gzip" and compressor "none" ask for different things' });
    await buildLayeredImage({ name: 'x', contents: [app], out, compress: 'gzip', compressor: 'gz' });
  });
});

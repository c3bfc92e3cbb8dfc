// readSpecFile: a spec file that is JSON but not an object is refused as an
// invalid spec (exit 65) naming the file, before a command writes its flags
// into it (build and archive set tty and make_args: with `null` that was
// "Cannot set properties of null (setting 'tty')", exit 1).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSpecFile } from '../../src/cli/context.js';
import { OpError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ndt-spec-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('readSpecFile', () => {
  it.each([
    ['null', 'null'],
    ['[{"app": "x"}]', 'a list'],
    ['"spec.json"', 'a string'],
    ['42', 'a number'],
    ['true', 'a boolean'],
  ])('refuses %s: not a JSON object', async (text, what) => {
    const path = file('spec.json', text);
    const err = await readSpecFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpError);
    expect(err).toMatchObject({ code: 'invalid_spec', message: `the spec ${path} is not a JSON object (it holds ${what})` });
    expect((err as OpError).hint).toContain('mix nerves_docker_ts.spec');
  });

  // V8's message quoted the start of the file ("Unexpected token 's', \"secretpassword123\" is not valid JSON"):
  // a key file given by mistake went into the error.
  it.each([
    ['secretpassword123\n', 'at line 1'],
    ['{\n  "app": "x",\n  secret\n}', 'at line 3, column 3'],
    ['{"app": "secret', 'at line 1, column 16'],
    ['{"secret": ', 'it ends too early'],
  ])('says where %j is not JSON, without quoting it', async (text, where) => {
    const path = file('bad.json', text);
    const err = await readSpecFile(path).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'invalid_spec', message: `the spec ${path} is not JSON (${where})` });
    expect((err as OpError).message).not.toContain('secret');
  });

  it('returns an object', async () => {
    expect(await readSpecFile(file('ok.json', '{"app": "x"}'))).toEqual({ app: 'x' });
  });
});

// The image toolkit's failures a user can meet, on real files: each has a
// code (its family decides the CLI's exit code) and a hint saying what to do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildContainer, buildLayeredImage, exportImage, parsePinnedReference, pullImage, shadowSetup } from '../../../src/image/index.js';
import { openBaseImage } from '../../../src/image/base-image.js';
import { parseSha256, measure } from '../../../src/image/digest.js';
import { writeTar, type TarEntry } from '../../../src/image/tar-writer.js';
import { familyOf, OpError, type ErrorCode } from '../../../src/errors.js';

let dir: string;
let archive: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-image-errors-'));
  await mkdir(join(dir, 'c'));
  await writeFile(join(dir, 'c', 'f'), 'x');
  archive = join(dir, 'base.tar');
  await buildLayeredImage({ name: 'ndt-test/base', tag: 'one', contents: [join(dir, 'c')], out: archive });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The OpError `run` fails with; asserts its code and that its hint matches. */
async function failure(run: () => Promise<unknown> | unknown, code: ErrorCode, hint: RegExp): Promise<OpError> {
  let caught: unknown;
  try {
    await run();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(OpError);
  const err = caught as OpError;
  expect({ code: err.code, message: err.message }).toMatchObject({ code });
  expect(err.hint ?? '').toMatch(hint);
  return err;
}

const SHA = `sha256:${'a'.repeat(64)}`;

describe('image failures: invalid input (exit 65 family)', () => {
  it('a missing base image archive, a file that is no archive, and a tag the archive does not hold', async () => {
    const missing = await failure(() => openBaseImage(join(dir, 'nope.tar')), 'base_image', /docker-archive .*check the path/);
    expect(missing.message).toContain(join(dir, 'nope.tar'));
    expect(missing.message).toContain('ENOENT');
    await writeFile(join(dir, 'text.tar'), 'not an archive at all\n'.repeat(100));
    await failure(
      () => buildLayeredImage({ name: 'x', fromImage: join(dir, 'text.tar'), contents: [join(dir, 'c')], out: join(dir, 'o1.tar') }),
      'base_image',
      /docker-archive/,
    );
    const tag = await failure(
      () => openBaseImage(archive, { fromImageName: 'ndt-test/base', fromImageTag: 'two' }),
      'base_image',
      /fromImageName and fromImageTag/,
    );
    expect(tag.message).toContain('no image tagged ndt-test/base:two');
    const base = await openBaseImage(archive, { fromImageName: 'ndt-test/base', fromImageTag: 'one' });
    await base.close();
    expect(familyOf('base_image')).toBe('invalid_input');
  });

  it('a bad digest, sha256 or unpinned reference', async () => {
    const out = join(dir, 'pulled.tar');
    const digest = await failure(
      () => pullImage({ imageName: '127.0.0.1:9/x', imageDigest: 'sha256:abc', out }),
      'image_reference',
      /manifest digest/,
    );
    expect(digest.message).toContain('imageDigest must be sha256:<64 hex digits> (got sha256:abc)');
    await failure(() => parseSha256('sha256:xyz'), 'image_reference', /64 hex digits/);
    await failure(() => parsePinnedReference('busybox:latest'), 'image_reference', /@sha256/);
  });

  it('an output that exists, a mount source that does not, and options out of range', async () => {
    await writeFile(join(dir, 'exists.tar'), '');
    await failure(
      () => pullImage({ imageName: '127.0.0.1:9/x', imageDigest: SHA, out: join(dir, 'exists.tar') }),
      'output_exists',
      /new --out/,
    );
    await failure(
      () =>
        buildContainer({ out: join(dir, 'bundle'), args: ['/bin/true'], mounts: [{ destination: '/data', source: join(dir, 'absent') }] }),
      'input_missing',
      /Create the mount source/,
    );
    await failure(
      () => buildLayeredImage({ name: 'x', contents: [join(dir, 'c')], maxLayers: 126, out: join(dir, 'o2.tar') }),
      'image_options',
      /from 2 to 125/,
    );
    await failure(
      () => buildLayeredImage({ name: 'x', contents: [join(dir, 'c')], out: join(dir, 'o3.tar'), format: 'zip' as never }),
      'image_options',
      /docker-archive, oci or oci-archive/,
    );
    await failure(
      () => buildLayeredImage({ name: 'Not Lower', contents: [join(dir, 'c')], out: join(dir, 'o4.tar') }),
      'image_name',
      /no uppercase/,
    );
    await failure(() => exportImage({ fromImage: join(dir, 'nope.tar'), out: join(dir, 'fs.tar') }), 'base_image', /check the path/);
  });

  it("users and groups that clash with the root's", async () => {
    const root = join(dir, 'root');
    await shadowSetup({ root, users: [{ name: 'app', uid: 1000 }] });
    const clash = await failure(
      () => shadowSetup({ root, users: [{ name: 'other', uid: 1000 }] }),
      'shadow_conflict',
      /uid that the root's etc\/passwd does not use/,
    );
    expect(clash.message).toContain('already used by user app');
    await failure(() => shadowSetup({ root, users: [{ name: 'bad name', uid: 2000 }] }), 'shadow_conflict', /starts with a letter/);
  });
});

describe('image failures: failed (exit 1 family)', () => {
  it('a file that changes while it is archived', async () => {
    const e: TarEntry = {
      name: 'x',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      mtime: 1,
      size: 5,
      data: Buffer.from('hi'),
    };
    const err = await failure(() => measure(writeTar([e])), 'inputs_changed', /build again when nothing writes/);
    expect(err.message).toContain('changed while being archived');
    expect(familyOf('inputs_changed')).toBe('failed');
  });
});

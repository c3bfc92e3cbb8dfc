// A small artifact handed over in the exec steps' stream
// (src/runner/job/artifact/carried.ts): written under its name when its
// bytes match the sha256 computed in the container (or when the container
// had none), refused with nothing under its name when they do not.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCarried } from '../../src/runner/job/artifact/carried.js';

const dir = mkdtempSync(join(tmpdir(), 'ndt-carried-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const data = Buffer.from('a small artifact');
const sha = createHash('sha256').update(data).digest('hex');

describe('writeCarried', () => {
  it('writes the bytes when they match the container digest, or when there is none', async () => {
    expect(await writeCarried({ data, sha256: sha }, join(dir, 'a.tar.gz'))).toBe(data.length);
    expect(readFileSync(join(dir, 'a.tar.gz'))).toEqual(data);
    expect(await writeCarried({ data, sha256: null }, join(dir, 'b.tar.gz'))).toBe(data.length);
  });

  it('bytes that do not match: artifact_corrupt, nothing under the name, no partial file', async () => {
    await expect(writeCarried({ data, sha256: 'f'.repeat(64) }, join(dir, 'c.tar.gz'))).rejects.toMatchObject({ code: 'artifact_corrupt' });
    expect(readdirSync(dir).sort()).toEqual(['a.tar.gz', 'b.tar.gz']);
  });
});

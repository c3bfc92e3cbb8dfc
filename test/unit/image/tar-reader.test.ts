// The tar reader on archives written byte by byte (raw-tar.ts): global pax
// records, which must apply to every later entry without being copied for
// each of them.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { paxMember, rawMember, readAll, writeRawTar } from './raw-tar.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndt-tar-reader-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('global pax records', () => {
  it('apply to every later entry; a local record overrides one for its entry only; a later global header adds and replaces', async () => {
    const p = await writeRawTar(join(dir, 'global.tar'), [
      paxMember({ uname: 'global', gname: 'group', mtime: '7' }, 'g'),
      rawMember({ name: 'a', data: 'a' }),
      paxMember({ uname: 'local', mtime: '9' }),
      rawMember({ name: 'b', data: 'b' }),
      paxMember({ gname: 'group2', uid: '42' }, 'g'),
      rawMember({ name: 'c', data: 'c' }),
    ]);
    const read = (await readAll(p)).map((e) => [e.name, e.uname, e.gname, e.mtime, e.uid]);
    expect(read).toEqual([
      ['a', 'global', 'group', 7, 0],
      ['b', 'local', 'group', 9, 0],
      ['c', 'global', 'group2', 7, 42],
    ]);
  });

  it('are not gone over again for each entry (that made a big global header cost its size times the entries)', async () => {
    // Counts the times a Map holding the global header's records is iterated while reading.
    const probe = 'NDT.probe';
    const iterations = async (entries: number) => {
      const parts = [paxMember({ [probe]: 'x', uname: 'global' }, 'g')];
      for (let i = 0; i < entries; i++) parts.push(rawMember({ name: `f${i}`, data: 'x' }));
      const p = await writeRawTar(join(dir, `many-${entries}.tar`), parts);
      const spy = vi.spyOn(Map.prototype, Symbol.iterator);
      try {
        const read = await readAll(p);
        expect(read.map((e) => e.uname)).toEqual(Array<string>(entries).fill('global'));
        return spy.mock.contexts.filter((m) => m instanceof Map && m.has(probe)).length;
      } finally {
        spy.mockRestore();
      }
    };
    expect(await iterations(100)).toBe(await iterations(1));
  });
});

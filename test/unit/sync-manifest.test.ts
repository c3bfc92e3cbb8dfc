// The sync's manifest as it is kept in the volume: written out a piece at a
// time, it is still exactly the gzip'd JSON of { v: 1, gen, entries: rows },
// and reads back as the entries it was made of.
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeManifest, encodeManifest } from '../../src/runner/job/inputs/sync/manifest.js';
import type { ManifestEntry } from '../../src/runner/job/inputs/sync/types.js';

function entries(n: number): ManifestEntry[] {
  const out: ManifestEntry[] = [{ path: '.', type: 'd', mode: 0o755, uid: 0, gid: 0, mtime: '1.000000000', size: 0 }];
  for (let i = 0; i < n; i++) {
    const path = `dir${i % 50}/naïve "quoted" \\ file-${i}`;
    if (i % 10 === 0) out.push({ path, type: 'l', mode: 0o777, uid: 1, gid: 2, mtime: '-5.000000001', size: 0, link: `../t\n${i}` });
    else if (i % 3 === 0) out.push({ path, type: 'f', mode: 0o644, uid: 1000, gid: 100, mtime: `${1765000000 + i}.123456789`, size: i });
    else
      out.push({
        path,
        type: 'f',
        mode: 0o4755,
        uid: 0,
        gid: 0,
        mtime: '2.000000000',
        size: i * 7,
        hash: (i % 16).toString(16).repeat(64),
      });
  }
  return out;
}

describe('sync manifest', () => {
  it('is the gzip of the JSON of its rows, over many pieces, and reads back the same', async () => {
    const list = entries(20_000);
    const gz = await encodeManifest('0123456789abcdef', list);
    const text = gunzipSync(gz).toString('utf8');
    expect(text.length).toBeGreaterThan(10 * 64 * 1024);
    const rows = list.map((e) => [
      e.path,
      e.type,
      e.mode,
      e.uid,
      e.gid,
      e.mtime,
      e.size,
      ...(e.link !== undefined ? [e.link] : e.hash ? [e.hash] : []),
    ]);
    expect(text).toBe(JSON.stringify({ v: 1, gen: '0123456789abcdef', entries: rows }));
    const back = decodeManifest(gz);
    expect(back?.gen).toBe('0123456789abcdef');
    expect([...back!.entries.values()]).toEqual(list);
  });

  it('of no entries', async () => {
    const gz = await encodeManifest('g', []);
    expect(gunzipSync(gz).toString('utf8')).toBe('{"v":1,"gen":"g","entries":[]}');
  });
});

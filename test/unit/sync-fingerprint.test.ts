// The fingerprint of a scanned tree (src/runner/job/inputs/sync/fingerprint.ts):
// the same entries give the same one; any change of a field, of the order or
// of a name's boundaries gives another.
import { describe, expect, it } from 'vitest';
import { treeFingerprint } from '../../src/runner/job/inputs/sync/fingerprint.js';
import type { ManifestEntry } from '../../src/runner/job/inputs/sync/types.js';

const base: ManifestEntry[] = [
  { path: '.', type: 'd', mode: 0o755, uid: 1000, gid: 1000, mtime: '1.000000000', size: 0 },
  { path: 'a', type: 'f', mode: 0o644, uid: 1000, gid: 1000, mtime: '2.000000001', size: 3 },
  { path: 'l', type: 'l', mode: 0o777, uid: 1000, gid: 1000, mtime: '3.000000000', size: 0, link: 'a' },
];

describe('treeFingerprint', () => {
  it('is stable for the same entries, and ignores hashes (not known from a scan)', () => {
    const again = base.map((e) => ({ ...e, hash: 'x' }));
    expect(treeFingerprint(again)).toBe(treeFingerprint(base));
  });

  it('changes with any field, the order, or where one name ends and the next begins', () => {
    const fp = treeFingerprint(base);
    const variants: ManifestEntry[][] = [
      base.map((e, i) => (i === 1 ? { ...e, mode: 0o755 } : e)),
      base.map((e, i) => (i === 1 ? { ...e, uid: 0 } : e)),
      base.map((e, i) => (i === 1 ? { ...e, gid: 0 } : e)),
      base.map((e, i) => (i === 1 ? { ...e, mtime: '2.000000002' } : e)),
      base.map((e, i) => (i === 1 ? { ...e, size: 4 } : e)),
      base.map((e, i) => (i === 2 ? { ...e, link: 'b' } : e)),
      base.map((e, i) => (i === 1 ? { ...e, type: 'd' as const } : e)),
      [base[0]!, base[2]!, base[1]!],
      base.slice(0, 2),
      base.map((e, i) => (i === 1 ? { ...e, path: 'a\n' } : e)),
    ];
    for (const v of variants) expect(treeFingerprint(v)).not.toBe(fp);
  });
});

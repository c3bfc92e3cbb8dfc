// Nested OCI image indexes (oci-select.ts) whose entries all point to the
// same index again: each index is read once per selection, and the walk
// stops at a fixed number of descriptors instead of growing with fan-out
// to the power of the depth.
import { describe, expect, it } from 'vitest';
import { selectOciImage, type OciDescriptor } from '../../../src/image/oci-select.js';
import { OpError } from '../../../src/errors.js';

const INDEX = 'application/vnd.oci.image.index.v1+json';

/** Four nested indexes i1..i4, each listing the next `fan` times, the last listing manifest m; reads counted by digest. */
function fanLayout(fan: number) {
  const child = (digest: string): OciDescriptor => ({ mediaType: INDEX, digest });
  const blobs: Record<string, unknown> = {
    i1: { manifests: Array(fan).fill(child('i2')) },
    i2: { manifests: Array(fan).fill(child('i3')) },
    i3: { manifests: Array(fan).fill(child('i4')) },
    i4: { manifests: Array(fan).fill({ digest: 'm' }) },
    m: { config: { digest: 'c' }, layers: [] },
  };
  const reads = new Map<string, number>();
  const readJson = async (digest: string) => {
    reads.set(digest, (reads.get(digest) ?? 0) + 1);
    return blobs[digest];
  };
  return { index: { manifests: Array(fan).fill(child('i1')) }, readJson, reads };
}

describe('nested OCI indexes', () => {
  it('reads each index and manifest once, however often the indexes list it', async () => {
    const { index, readJson, reads } = fanLayout(3);
    const got = await selectOciImage(index, readJson, {}, 'test layout');
    expect(got.manifest).toEqual({ config: { digest: 'c' }, layers: [] });
    expect(Object.fromEntries(reads)).toEqual({ i1: 1, i2: 1, i3: 1, i4: 1, m: 1 });
  });

  it('refuses indexes that list more than 1024 descriptors in all, naming the limit', async () => {
    const { index, readJson } = fanLayout(10);
    const err = await selectOciImage(index, readJson, {}, 'test layout').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpError);
    expect(err).toMatchObject({ code: 'base_image' });
    expect((err as OpError).message).toBe('test layout: the image indexes list more than 1024 descriptors in all');
    expect((err as OpError).hint).toBeTruthy();
  });
});

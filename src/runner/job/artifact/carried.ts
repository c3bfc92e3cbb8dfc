// The artifact as the steps' driver handed it over in its stream (a small
// one, exec-driver.ts): checked against the sha256 computed in the
// container, then written under a temporary name and renamed.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { CarriedFile } from '../steps/runner.js';
import { damaged } from './digest.js';
import { writeAtomically } from './write-atomically.js';

export async function writeCarried(file: CarriedFile, destPath: string): Promise<number> {
  const got = createHash('sha256').update(file.data).digest('hex');
  if (file.sha256 !== null && file.sha256 !== got) throw damaged(got, file.sha256);
  return writeAtomically(destPath, (tmp) => writeFile(tmp, file.data, { mode: 0o644 }));
}

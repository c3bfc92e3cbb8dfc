// What this machine last left in an input volume: the state files of its
// last complete sync (state "done G" and the manifest) and the fingerprint
// of the host tree it sent (fingerprint.ts), kept under the
// package's build path (.ndt-inputs/<volume>/). A build that finds nothing to
// send against this record skips reading the volume's state (a request the
// engine serves in ~70 ms, one volume at a time) and has the step driver
// check, before the first step, that the volume's state still says "done G"
// (exec-driver.ts); when it does not (another machine synced the volume, a
// sync was cut off), the sync is done again the usual way first.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, STATE_FILE } from './layout.js';
import { MAX_STATE_FILE } from './manifest.js';
import { FINGERPRINT_FILE } from './fingerprint.js';

const DIR = '.ndt-inputs';

function recordDir(buildPath: string, volume: string): string {
  // Volume names are checked (VOLUME_RE) before they get here: no "/" or "..".
  return join(buildPath, DIR, volume);
}

/** The recorded state files of `volume`, or null (none, or unreadable: the volume is read instead). */
export async function readHostRecord(buildPath: string, volume: string): Promise<Map<string, Buffer> | null> {
  const dir = recordDir(buildPath, volume);
  try {
    const files = new Map<string, Buffer>();
    for (const name of [STATE_FILE, MANIFEST_FILE, FINGERPRINT_FILE]) {
      const data = await readFile(join(dir, name)).catch((err: NodeJS.ErrnoException) => {
        if (name === FINGERPRINT_FILE && err.code === 'ENOENT') return null; // optional
        throw err;
      });
      if (!data) continue;
      if (data.length > MAX_STATE_FILE) return null;
      files.set(name, data);
    }
    return files;
  } catch {
    return null;
  }
}

/** Records `files` (STATE_FILE, MANIFEST_FILE and FINGERPRINT_FILE) for `volume`; the state is written last, by rename. */
export async function writeHostRecord(buildPath: string, volume: string, files: Map<string, Buffer>): Promise<void> {
  const dir = recordDir(buildPath, volume);
  await mkdir(dir, { recursive: true });
  await rm(join(dir, STATE_FILE), { force: true }); // no state: no record, while the rest is rewritten
  for (const name of [FINGERPRINT_FILE, MANIFEST_FILE, STATE_FILE]) {
    const data = files.get(name);
    if (!data) throw new Error(`writeHostRecord: no ${name}`);
    await writeFile(join(dir, `${name}.new`), data, { mode: 0o600 });
    await rename(join(dir, `${name}.new`), join(dir, name));
  }
}

/** Forgets what was recorded for `volume` (before a sync changes it). */
export async function dropHostRecord(buildPath: string, volume: string): Promise<void> {
  await rm(join(recordDir(buildPath, volume), STATE_FILE), { force: true });
}

/** Forgets every record under `buildPath` (clean: the volumes they describe are gone). */
export async function dropAllHostRecords(buildPath: string): Promise<void> {
  await rm(join(buildPath, DIR), { recursive: true, force: true });
}

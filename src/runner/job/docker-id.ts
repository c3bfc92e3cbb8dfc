// The build volume's id: 16 characters of A-Za-z0-9_ kept in
// <artifact build path>/.docker_id, created on first use and reused after;
// the volume is named <app>-<id>, as upstream names it.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OpError } from '../../errors.js';
import { VOLUME_RE } from '../spec.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_';
const ID_RE = /^[A-Za-z0-9_]{16}$/;

export function randomId(length = 16): string {
  // 256 is a multiple of 64 = ALPHABET.length, so `byte % 64` is unbiased.
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

export function dockerIdPath(buildPath: string): string {
  return join(buildPath, '.docker_id');
}

/** Reads the id, or makes one when the file is missing; a bad file is replaced and reported through warn. */
export async function readOrCreateDockerId(buildPath: string, warn: (text: string) => void): Promise<string> {
  const file = dockerIdPath(buildPath);
  let existing: string | null = null;
  try {
    existing = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing !== null) {
    // Upstream writes the id without a newline; tolerate one added by hand.
    const id = existing.trim();
    if (ID_RE.test(id)) return id;
    warn(
      `${file} held ${existing.length === 0 ? 'nothing' : `an invalid id (${JSON.stringify(existing.slice(0, 40))})`}; making a new one (the build starts from an empty volume)`,
    );
  }
  const id = randomId();
  await mkdir(buildPath, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, id);
  await rename(tmp, file);
  return id;
}

/** Whether <app>-<id> is a name Docker takes for a volume. */
export function validVolumeName(app: string, id: string): boolean {
  return VOLUME_RE.test(`${app}-${id}`);
}

export function volumeName(app: string, id: string): string {
  const name = `${app}-${id}`;
  if (!validVolumeName(app, id)) throw new OpError('invalid_spec', `the volume name ${name} is not valid for Docker`);
  return name;
}

/** The volumes on the engine that hold the copied inputs of the build volume `volume` (copy mode). */
export function inputVolumes(volume: string): { platform: string; package: string } {
  return { platform: `${volume}-platform`, package: `${volume}-package` };
}

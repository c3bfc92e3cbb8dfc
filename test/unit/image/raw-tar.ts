// Tar archives written byte by byte for the reader's tests: headers whose
// fields (type, size, names, checksum) say what the test needs, including
// what no tar tool would write; our own writer normalises them away.
import { writeFile } from 'node:fs/promises';
import { readTarFile, type TarReadEntry } from '../../../src/image/tar-reader.js';

export interface RawMember {
  name: string;
  /** Type flag (default '0', a regular file). */
  flag?: string;
  /** The size field (default the data's length). */
  size?: number;
  linkname?: string;
  data?: Buffer | string;
  /** The checksum field as written (default the right one, six octal digits, NUL, space). */
  checksum?: string;
}

/** The 512-byte ustar header of `m`. */
export function rawHeader(m: RawMember): Buffer {
  const data = Buffer.from(m.data ?? '');
  const h = Buffer.alloc(512);
  h.write(m.name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  h.write((m.size ?? data.length).toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write('00000000001\0', 136, 'ascii');
  h.write(m.flag ?? '0', 156, 'latin1');
  h.write(m.linkname ?? '', 157, 100, 'utf8');
  h.write('ustar\0' + '00', 257, 'ascii');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(m.checksum ?? sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);

/** Header and padded data of one member. */
export function rawMember(m: RawMember): Buffer {
  return Buffer.concat([rawHeader(m), pad(Buffer.from(m.data ?? ''))]);
}

/** A pax header member (flag 'x', or 'g' for a global one) holding `records` (a Buffer value as its bytes, UTF-8 or not). */
export function paxMember(records: Record<string, string | Buffer>, flag = 'x'): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of Object.entries(records)) {
    const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.from(v), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len++;
    out.push(Buffer.from(String(len)), body);
  }
  return rawMember({ name: 'PaxHeader', flag, data: Buffer.concat(out) });
}

/** Writes `parts` and the end-of-archive blocks to `path`. */
export async function writeRawTar(path: string, parts: Buffer[]): Promise<string> {
  await writeFile(path, Buffer.concat([...parts, Buffer.alloc(1024)]));
  return path;
}

export async function readAll(path: string): Promise<TarReadEntry[]> {
  const out: TarReadEntry[] = [];
  for await (const e of readTarFile(path)) out.push(e);
  return out;
}

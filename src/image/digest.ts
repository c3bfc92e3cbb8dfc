// sha256 helpers: hash a stream as it passes, compare digests, parse the hash
// notations users write (hex, sha256:hex, SRI sha256-base64, Nix base32).
import { createHash } from 'node:crypto';
import { OpError } from '../errors.js';

export interface Measured {
  digest: string; // "sha256:<hex>"
  size: number;
}

export async function measure(stream: AsyncIterable<Buffer>): Promise<Measured> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

const SHA256_HINT = 'Give the sha256 as 64 hex digits (optionally sha256:), as sha256-<base64> (SRI) or in Nix base32.';

const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz';

/** Decode Nix's base32 (as printed by nix-hash --type sha256 --base32). */
export function fromNixBase32(s: string): Buffer {
  const len = Math.floor((s.length * 5) / 8);
  const out = Buffer.alloc(len);
  for (let n = 0; n < s.length; n++) {
    const c = NIX32.indexOf(s[s.length - n - 1]!);
    if (c < 0) throw new OpError('image_reference', `invalid Nix base32 character in ${s}`, SHA256_HINT);
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i] = (out[i]! | (c << j)) & 0xff;
    if (i + 1 < len) out[i + 1] = (out[i + 1]! | (c >> (8 - j))) & 0xff;
    else if (c >> (8 - j) !== 0) throw new OpError('image_reference', `invalid Nix base32 hash ${s}`, SHA256_HINT);
  }
  return out;
}

export function toNixBase32(buf: Buffer): string {
  const len = Math.ceil((buf.length * 8) / 5);
  let s = '';
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c = ((buf[i]! >> j) | (i + 1 < buf.length ? buf[i + 1]! << (8 - j) : 0)) & 0x1f;
    s += NIX32[c];
  }
  return s;
}

/** Normalise a user-written sha256 to "sha256:<hex>". */
export function parseSha256(input: string): string {
  const s = input.trim();
  let m = /^(?:sha256:)?([0-9a-f]{64})$/i.exec(s);
  if (m) return `sha256:${m[1]!.toLowerCase()}`;
  m = /^sha256-([A-Za-z0-9+/]{43}=)$/.exec(s);
  if (m) return `sha256:${Buffer.from(m[1]!, 'base64').toString('hex')}`;
  m = /^(?:sha256:)?([0-9abcdfghijklmnpqrsvwxyz]{52})$/.exec(s);
  if (m) return `sha256:${fromNixBase32(m[1]!).toString('hex')}`;
  throw new OpError('image_reference', `not a sha256 hash: ${input} (use hex, sha256:hex, sha256-<base64> or Nix base32)`, SHA256_HINT);
}

export function sriOf(digest: string): string {
  return `sha256-${Buffer.from(hexOf(digest), 'hex').toString('base64')}`;
}

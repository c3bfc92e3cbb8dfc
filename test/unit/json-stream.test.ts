// The engine's JSON-lines answers (pull, build, load): lines split anywhere
// between chunks, a character's bytes included, and error lines.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readJsonLines, type ProgressLine } from '../../src/engine/json-stream.js';

async function linesOf(chunks: Buffer[]): Promise<ProgressLine[]> {
  const out: ProgressLine[] = [];
  await readJsonLines(Readable.from(chunks), (l) => out.push(l));
  return out;
}

describe('readJsonLines', () => {
  it('keeps a character whose bytes are split between two chunks', async () => {
    const text = Buffer.from('{"stream":"Größe ✓ 構築\\n"}\n{"stream":"done\\n"}\n');
    // Every split point, the ones inside a multi-byte character included.
    for (let at = 1; at < text.length; at++) {
      const lines = await linesOf([text.subarray(0, at), text.subarray(at)]);
      expect(lines.map((l) => l.stream)).toEqual(['Größe ✓ 構築\n', 'done\n']);
    }
  });

  it('keeps characters fed one byte at a time, a last line without newline included', async () => {
    const text = Buffer.from('{"status":"Pulling ✓"}\n{"stream":"é"}');
    const lines = await linesOf([...text].map((b) => Buffer.from([b])));
    expect(lines).toEqual([{ status: 'Pulling ✓' }, { stream: 'é' }]);
  });

  it('rejects with the first error line after passing every line on', async () => {
    const seen: ProgressLine[] = [];
    const stream = Readable.from([
      Buffer.from('{"stream":"a\\n"}\n{"errorDetail":{"message":"boom"},"error":"boom"}\n{"error":"later"}\n'),
    ]);
    await expect(readJsonLines(stream, (l) => seen.push(l))).rejects.toMatchObject({ code: 'stream_error', message: 'boom' });
    expect(seen).toHaveLength(3);
  });
});

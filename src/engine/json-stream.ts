// Reads the newline-delimited JSON that pull, build and load answer with, and
// fails on the error lines the daemon writes into the stream (docker-modem's
// followProgress does not report those). The one JSON-lines reader of the
// package.
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { OpError } from '../errors.js';

export interface ProgressLine {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  aux?: unknown;
  error?: string;
  errorDetail?: { message?: string };
}

/** The OpError `stream_error`: the daemon reported a failure inside its answer
 *  (its own message; the caller wraps it with what failed and what to do). */
export class StreamError extends OpError {
  constructor(message: string) {
    super('stream_error', message);
  }
}

export interface JsonLinesOptions {
  /** A line that is not JSON is a failure ("unexpected response: <line>"); by default it is passed on as `stream` text. */
  strict?: boolean;
}

/** Calls onLine for every JSON line; rejects with StreamError on the first error line. */
export async function readJsonLines(stream: Readable, onLine: (line: ProgressLine) => void, opts: JsonLinesOptions = {}): Promise<void> {
  let carry = '';
  // A character's bytes may be split between two chunks: the decoder keeps the first part for the next.
  const utf8 = new StringDecoder('utf8');
  let failure: string | null = null;
  const handle = (text: string) => {
    if (text.trim() === '') return;
    let line: ProgressLine;
    try {
      line = JSON.parse(text) as ProgressLine;
    } catch {
      if (opts.strict) {
        failure ??= `unexpected response: ${text}`;
        return;
      }
      line = { stream: text + '\n' };
    }
    if (line.error || line.errorDetail?.message) failure ??= line.errorDetail?.message ?? line.error ?? 'unknown error';
    onLine(line);
  };
  for await (const chunk of stream) {
    carry += utf8.write(chunk as Buffer);
    let nl: number;
    while ((nl = carry.indexOf('\n')) >= 0) {
      handle(carry.slice(0, nl));
      carry = carry.slice(nl + 1);
    }
  }
  handle(carry + utf8.end());
  if (failure !== null) throw new StreamError(failure);
}

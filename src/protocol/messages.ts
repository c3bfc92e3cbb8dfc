// The messages of the sidecar protocol (docs/protocol.md), and checks that
// turn a decoded value into one of them.
import { OpError } from '../errors.js';

export const PROTOCOL_VERSION = 1;

export type RequestId = number | bigint;

export interface Hello {
  hello: { protocol: number; version: string; node: string; pid: number };
}

export interface ErrorInfo {
  code: string;
  message: string;
  hint?: string | null;
}

export type EventName = 'headline' | 'log' | 'progress' | 'info' | 'warn' | 'header' | 'status' | 'dot';

/** Plugin -> sidecar. */
export type Inbound =
  | { kind: 'request'; id: RequestId; op: string; args: unknown }
  | { kind: 'answer'; id: RequestId; ref: number; answer: unknown }
  | { kind: 'cancel'; id: RequestId }
  /** The plugin is done: stop as at stdin's end (cleanup first), then exit 0; the plugin waits for that exit. */
  | { kind: 'shutdown' };

/** The OpError `bad_request`, with the id of the message when it had one. */
export class BadMessageError extends OpError {
  constructor(
    message: string,
    readonly id: RequestId | null = null,
  ) {
    super('bad_request', message);
  }
}

function isId(v: unknown): v is RequestId {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
}

/** Classifies a decoded frame from the plugin. Throws BadMessageError. */
export function parseInbound(value: unknown): Inbound {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw new BadMessageError('a message must be a map');
  }
  const m = value as Record<string, unknown>;
  if (m.shutdown === true) return { kind: 'shutdown' };
  if (!isId(m.id)) throw new BadMessageError('a message needs an integer "id"');
  const id = m.id;
  if (typeof m.op === 'string') return { kind: 'request', id, op: m.op, args: m.args ?? null };
  if ('op' in m) throw new BadMessageError('"op" must be a string', id);
  if ('answer' in m) {
    if (typeof m.ref !== 'number') throw new BadMessageError('an answer needs an integer "ref"', id);
    return { kind: 'answer', id, ref: m.ref, answer: m.answer };
  }
  if (m.cancel === true) return { kind: 'cancel', id };
  throw new BadMessageError('a message needs "op", "answer" or "cancel"', id);
}

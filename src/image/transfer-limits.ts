// Bounds on one registry request, so that no registry can hold a pull
// forever: an overall deadline (from the request to the last byte of its
// body, redirects included) and a minimum rate the transfer must average
// over each window. Both settable (pullImage's requestTimeout, minRate,
// rateWindow; the CLI's --request-timeout, --min-rate, --rate-window);
// defaults documented in README.md.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { OpError } from '../errors.js';
import { shown } from './shown.js';

export interface TransferLimits {
  /** Overall deadline of one request in ms (default 30 minutes). */
  deadlineMs?: number;
  /** Bytes per second a request must average over each window (default 1024; 0 turns the check off). */
  minRate?: number;
  /** The window minRate is measured over, in ms (default 30 s). */
  rateWindowMs?: number;
}

export const DEFAULT_LIMITS: Required<TransferLimits> = { deadlineMs: 30 * 60_000, minRate: 1024, rateWindowMs: 30_000 };

const LIMITS_HINT =
  "The registry answers too slowly: try again later or from a faster network; if it is just big and slow, raise requestTimeout / minRate's window (--request-timeout, --min-rate, --rate-window).";

export function resolveLimits(l: TransferLimits = {}): Required<TransferLimits> {
  const out = { ...DEFAULT_LIMITS };
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof TransferLimits)[]) {
    const v = l[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (k !== 'minRate' && v <= 0)) {
      throw new OpError(
        'image_options',
        `${k} must be ${k === 'minRate' ? '0 or a positive number' : 'a positive number'}, got ${String(v)}`,
        'Give requestTimeout and rateWindow in seconds (> 0) and minRate in bytes per second (0 turns it off).',
      );
    }
    out[k] = v;
  }
  return out;
}

/** Pull options (seconds, bytes per second) as TransferLimits, each checked under its own name. */
export function limitsFromOptions(o: { requestTimeout?: number; minRate?: number; rateWindow?: number }): TransferLimits {
  for (const [key, flag, zeroOk, unit] of [
    ['requestTimeout', '--request-timeout', false, 'seconds'],
    ['minRate', '--min-rate', true, 'bytes per second, 0 to turn the check off'],
    ['rateWindow', '--rate-window', false, 'seconds'],
  ] as const) {
    const v: unknown = o[key];
    if (v === undefined || (typeof v === 'number' && Number.isFinite(v) && (v > 0 || (zeroOk && v === 0)))) continue;
    throw new OpError(
      'image_options',
      `${key} must be ${zeroOk ? '0 or a positive number' : 'a positive number'} (got ${shown(v)})`,
      `Give ${key} (${flag}) in ${unit}; defaults: requestTimeout 1800, minRate 1024, rateWindow 30.`,
    );
  }
  return {
    ...(o.requestTimeout !== undefined ? { deadlineMs: o.requestTimeout * 1000 } : {}),
    ...(o.minRate !== undefined ? { minRate: o.minRate } : {}),
    ...(o.rateWindow !== undefined ? { rateWindowMs: o.rateWindow * 1000 } : {}),
  };
}

export interface TransferWatch {
  /** From now on, failures destroy the response body (its reader sees the error). */
  attach(res: IncomingMessage): void;
  stop(): void;
}

/**
 * Watches a request until its response body closes: past the deadline, below
 * the minimum rate (bytes read on its socket, per window) or when `signal`
 * aborts, the request or its response is destroyed with a coded error.
 */
export function watchTransfer(
  req: ClientRequest,
  url: string,
  limits: Required<TransferLimits>,
  deadlineAt: number,
  signal?: AbortSignal,
): TransferWatch {
  let res: IncomingMessage | undefined;
  let stopped = false;
  let seen = 0;
  const bytes = () => req.socket?.bytesRead ?? 0;
  req.once('socket', (s) => (seen = s.bytesRead));
  const fail = (err: Error) => {
    if (stopped) return;
    stop();
    if (res) res.destroy(err);
    else req.destroy(err);
  };
  const deadline = setTimeout(
    () =>
      fail(
        new OpError(
          'registry_request',
          `fetching ${url} did not finish within the request deadline of ${Math.round(limits.deadlineMs / 1000)} s`,
          LIMITS_HINT,
        ),
      ),
    Math.max(0, deadlineAt - Date.now()),
  );
  const window =
    limits.minRate > 0
      ? setInterval(() => {
          const now = bytes();
          const rate = ((now - seen) * 1000) / limits.rateWindowMs;
          seen = now;
          if (rate < limits.minRate)
            fail(
              new OpError(
                'registry_request',
                `fetching ${url} is too slow: ${Math.floor(rate)} bytes/s over ${limits.rateWindowMs / 1000} s, below the minimum of ${limits.minRate}`,
                LIMITS_HINT,
              ),
            );
        }, limits.rateWindowMs)
      : undefined;
  const onAbort = () => fail(signal!.reason instanceof Error ? signal!.reason : new OpError('interrupted', 'interrupted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  function stop() {
    stopped = true;
    clearTimeout(deadline);
    if (window) clearInterval(window);
    signal?.removeEventListener('abort', onAbort);
  }
  if (signal?.aborted) queueMicrotask(onAbort);
  return {
    attach(r) {
      res = r;
      r.once('close', stop);
    },
    stop,
  };
}

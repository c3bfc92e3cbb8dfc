// A small HTTP(S) client for the registry API: redirects followed (the
// Authorization header kept only within the same origin, and a redirect from
// HTTPS to plain HTTP refused while TLS is verified), TLS verification
// switchable, bodies as buffers or streams. Every request is bounded: an
// idle timeout, an overall deadline (headers to the last body byte, across
// redirects) and a minimum rate the body must keep (transfer-limits.ts).
import http from 'node:http';
import https from 'node:https';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { OpError } from '../errors.js';
import { resolveLimits, watchTransfer, type TransferLimits } from './transfer-limits.js';

export interface HttpResponse {
  status: number;
  headers: IncomingMessage['headers'];
  url: string;
  body: IncomingMessage;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  tlsVerify?: boolean;
  maxRedirects?: number;
  /** Idle timeout of the socket (ms). */
  timeoutMs?: number;
  /** Overall deadline and minimum rate (defaults in transfer-limits.ts). */
  limits?: TransferLimits;
  /** Aborts the request, its body included, with the signal's reason. */
  signal?: AbortSignal;
}

const NETWORK_HINT = "Check the network, the registry's address and, for a registry without a trusted certificate, tlsVerify.";

/**
 * The headers of the request a redirect leads to: credentials only when it
 * stays on the same origin (scheme, host and port: https://reg to
 * http://reg is another origin), and no HTTPS to plain HTTP while TLS is
 * verified (what was asked for over TLS would go out unprotected).
 */
export function redirectHeaders(from: URL, to: URL, headers: Record<string, string>, tlsVerify: boolean): Record<string, string> {
  if (tlsVerify && from.protocol === 'https:' && to.protocol !== 'https:')
    throw new OpError(
      'registry_request',
      `${from.origin}${from.pathname} redirects to ${to.protocol}//${to.host}${to.pathname}, off HTTPS: refused while TLS is verified`,
      'A registry (or a proxy) in front of it moved this request off HTTPS: check its address; pull over plain HTTP only from a registry you trust, with tlsVerify false (--no-tls-verify).',
    );
  if (to.origin === from.origin) return { ...headers };
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
}

export function request(url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  return requestUntil(url, opts, Date.now() + resolveLimits(opts.limits).deadlineMs);
}

function requestUntil(url: string, opts: RequestOptions, deadlineAt: number): Promise<HttpResponse> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const loc = res.headers.location;
      if (status >= 300 && status < 400 && loc) {
        watch.stop();
        res.resume();
        const left = opts.maxRedirects ?? 5;
        if (left <= 0)
          return reject(
            new OpError('registry_request', `too many redirects fetching ${url}`, 'The registry redirects in a loop: check its address.'),
          );
        const next = new URL(loc, u);
        let headers: Record<string, string>;
        try {
          headers = redirectHeaders(u, next, opts.headers ?? {}, opts.tlsVerify !== false);
        } catch (err) {
          return reject(err);
        }
        requestUntil(next.toString(), { ...opts, headers, maxRedirects: left - 1 }, deadlineAt).then(resolve, reject);
        return;
      }
      watch.attach(res);
      resolve({ status, headers: res.headers, url, body: res });
    };
    const req: ClientRequest = lib.request(
      u,
      { method: 'GET', headers: opts.headers ?? {}, ...(u.protocol === 'https:' ? { rejectUnauthorized: opts.tlsVerify !== false } : {}) },
      onResponse,
    );
    const watch = watchTransfer(req, url, resolveLimits(opts.limits), deadlineAt, opts.signal);
    req.setTimeout(opts.timeoutMs ?? 60_000, () =>
      req.destroy(
        new OpError(
          'registry_request',
          `timeout fetching ${url}: nothing received for ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s`,
          NETWORK_HINT,
        ),
      ),
    );
    req.on('error', (err) => {
      watch.stop();
      reject(err instanceof OpError ? err : new OpError('registry_request', `cannot fetch ${url}: ${err.message}`, NETWORK_HINT));
    });
    req.end();
  });
}

/** The whole body, refused past `limit` bytes (the stream is destroyed at once). */
export async function readBody(res: HttpResponse, limit = 16 * 1024 * 1024, what = `response from ${res.url}`): Promise<Buffer> {
  const declared = res.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    res.body.destroy();
    throw tooLarge(what, limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += (c as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw tooLarge(what, limit);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function tooLarge(what: string, limit: number): OpError {
  return new OpError(
    'registry_image',
    `${what} is larger than ${limit} bytes`,
    'The registry sent something else than it was asked for: check its address.',
  );
}

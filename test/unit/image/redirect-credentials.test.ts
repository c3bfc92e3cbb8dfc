// Redirects (http.ts): the Authorization header follows only within the
// same origin (scheme, host and port), and HTTPS to plain HTTP is refused
// while TLS is verified. The server (tls-plain-server.ts) answers both
// schemes on one port, so https://127.0.0.1:P -> http://127.0.0.1:P is the
// same host and port in another scheme.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redirectHeaders, request } from '../../../src/image/http.js';
import { OpError } from '../../../src/errors.js';
import { startTlsPlainServer, type TlsPlainServer } from './tls-plain-server.js';

let server: TlsPlainServer;
let origin: string;

beforeAll(async () => {
  server = await startTlsPlainServer((req, res) => {
    if (req.url === '/to-http') res.writeHead(302, { location: `http://${origin}/landing` }).end();
    else if (req.url === '/same') res.writeHead(302, { location: '/landing' }).end();
    else res.writeHead(200).end('ok');
  });
  origin = server.host;
});
afterAll(() => server.stop());

/** GET with a bearer token; the status and what the server saw after the first request. */
async function get(url: string, tlsVerify: boolean) {
  server.seen.length = 0;
  const res = await request(url, { tlsVerify, headers: { Authorization: 'Bearer secret' } });
  res.body.resume();
  return { status: res.status, after: server.seen.slice(1) };
}

describe('redirects and credentials', () => {
  it('keeps the token on a redirect within the same origin', async () => {
    expect(await get(`https://${origin}/same`, true)).toEqual({
      status: 200,
      after: [{ path: '/landing', tls: true, authorization: 'Bearer secret' }],
    });
  });

  it('refuses https -> http on the same host and port while TLS is verified, sending nothing', async () => {
    const err = await get(`https://${origin}/to-http`, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpError);
    expect(err).toMatchObject({
      code: 'registry_request',
      message: `https://${origin}/to-http redirects to http://${origin}/landing, off HTTPS: refused while TLS is verified`,
    });
    expect(server.seen).toEqual([{ path: '/to-http', tls: true, authorization: 'Bearer secret' }]);
  });

  it('follows https -> http without TLS verification, but without the token', async () => {
    expect(await get(`https://${origin}/to-http`, false)).toEqual({ status: 200, after: [{ path: '/landing', tls: false }] });
  });

  it('drops the token for another scheme, host or port, whatever the case of its name', () => {
    const from = new URL('https://reg.example/v2/x');
    const keep = { Accept: 'a', Authorization: 'Bearer t' };
    expect(redirectHeaders(from, new URL('https://reg.example:443/v2/y'), keep, true)).toEqual(keep);
    for (const to of ['https://reg.example:444/v2/y', 'https://blobs.example/v2/y', 'http://reg.example/v2/y'])
      expect(redirectHeaders(from, new URL(to), { Accept: 'a', authorization: 'Bearer t' }, false), to).toEqual({ Accept: 'a' });
    expect(() => redirectHeaders(from, new URL('http://reg.example/v2/y'), keep, true)).toThrow(OpError);
  });
});

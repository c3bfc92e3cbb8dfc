// Redirects (http.ts): the Authorization header follows only within the
// same origin (scheme, host and port), and HTTPS to plain HTTP is refused
// while TLS is verified. One local port serves both TLS and plain HTTP (by
// the first byte), so https://127.0.0.1:P -> http://127.0.0.1:P is the same
// host and port in another scheme; the certificate below is self-signed for
// 127.0.0.1 (valid 2000 to 2100; its key was made for this test and
// protects nothing) and trusted through https.globalAgent for these tests
// only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { redirectHeaders, request } from '../../../src/image/http.js';
import { OpError } from '../../../src/errors.js';

const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqWnC0yWLtHlD1kNt
RIfiMjiqimQ9/FeUXGi+I6bZ40qhRANCAATGfIbwu97jYL+f3RVlRbUxK5ade1s7
xTBY6vEhXCRsMyBsY53tl/2NBFvlTQ4UPieo8VuIaYqvguoe3SRMeHn5
-----END PRIVATE KEY-----
`;
const CERT = `-----BEGIN CERTIFICATE-----
MIIBTjCB9qADAgECAhREIhjYRdrJvCHg2Ban3sWuX+Aw1DAKBggqhkjOPQQDAjAU
MRIwEAYDVQQDDAkxMjcuMC4wLjEwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEw
MDAwMDBaMBQxEjAQBgNVBAMMCTEyNy4wLjAuMTBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABMZ8hvC73uNgv5/dFWVFtTErlp17WzvFMFjq8SFcJGwzIGxjne2X/Y0E
W+VNDhQ+J6jxW4hpiq+C6h7dJEx4efmjJDAiMA8GA1UdEQQIMAaHBH8AAAEwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiASSzUKB29YMkYdW27H7Kuf
kIJAp9/M4s0ZrP0vV5IYoQIgDRHjcC5amFBdoHzTqvyLCH974FhTgLQGl3rehQKB
sFY=
-----END CERTIFICATE-----
`;

let origin: string;
let front: net.Server;
const sockets = new Set<Socket>();
const seen: { path: string; tls: boolean; authorization?: string }[] = [];
const savedCa = https.globalAgent.options.ca;

function handle(req: http.IncomingMessage, res: http.ServerResponse) {
  const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
  seen.push({ path: req.url ?? '', tls, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
  if (req.url === '/to-http') res.writeHead(302, { location: `http://${origin}/landing` }).end();
  else if (req.url === '/same') res.writeHead(302, { location: '/landing' }).end();
  else res.writeHead(200).end('ok');
}

beforeAll(async () => {
  const plain = http.createServer(handle);
  const secure = https.createServer({ key: KEY, cert: CERT }, handle);
  front = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (first) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === 0x16 ? secure : plain).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  origin = `127.0.0.1:${(front.address() as AddressInfo).port}`;
  https.globalAgent.options.ca = CERT;
});
afterAll(async () => {
  https.globalAgent.options.ca = savedCa;
  for (const s of sockets) s.destroy();
  await new Promise((r) => front.close(r));
});

/** GET with a bearer token; the status and what the server saw after the first request. */
async function get(url: string, tlsVerify: boolean) {
  seen.length = 0;
  const res = await request(url, { tlsVerify, headers: { Authorization: 'Bearer secret' } });
  res.body.resume();
  return { status: res.status, after: seen.slice(1) };
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
    expect(seen).toEqual([{ path: '/to-http', tls: true, authorization: 'Bearer secret' }]);
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

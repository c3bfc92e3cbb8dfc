// The bearer challenge's token realm (registry.ts): a registry reached over
// HTTPS may not send the credentials to a plain-HTTP token service; they
// go to an HTTPS realm, on the registry's host or another (as docker sends
// them). The server (tls-plain-server.ts) answers both schemes on one port:
// the registry challenges with an http:// or an https:// realm on itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, tokenRealm } from '../../../src/image/registry.js';
import { OpError } from '../../../src/errors.js';
import { startTlsPlainServer, type TlsPlainServer } from './tls-plain-server.js';

let server: TlsPlainServer;
const credentials = { username: 'user', password: 'secret' };
const BASIC = `Basic ${Buffer.from('user:secret').toString('base64')}`;

beforeAll(async () => {
  server = await startTlsPlainServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/token')) return res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t0k"}');
    const realm = url.startsWith('/v2/plain/') ? 'http' : 'https';
    if (url.startsWith('/v2/') && url !== '/v2/' && req.headers.authorization !== 'Bearer t0k')
      return res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}://${server.host}/token",service="test"` }).end();
    res.writeHead(200).end('{}');
  });
});
afterAll(() => server.stop());

async function fetchManifest(repository: string, tlsVerify: boolean) {
  server.seen.length = 0;
  const client = new RegistryClient({ registry: server.host, repository }, { tlsVerify, credentials });
  const res = await client.get('manifests/latest');
  res.body.resume();
  return res.status;
}

describe('token realm', () => {
  it('refuses a plain-HTTP realm of a registry reached over HTTPS, sending the credentials nowhere', async () => {
    for (const tlsVerify of [true, false]) {
      const err = await fetchManifest('plain/app', tlsVerify).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpError);
      expect(err).toMatchObject({
        code: 'registry_auth',
        message: `registry ${server.host}: its token service http://${server.host}/token is not HTTPS: refused, as the registry is reached over HTTPS`,
      });
      expect((err as OpError).hint).toBeTruthy();
      expect(server.seen.filter((s) => s.path.startsWith('/token'))).toEqual([]);
      expect(server.seen.every((s) => s.tls && s.authorization === undefined)).toBe(true);
    }
  });

  it('sends the credentials to an HTTPS realm, then the token to the registry', async () => {
    expect(await fetchManifest('secure/app', true)).toBe(200);
    expect(server.seen).toEqual([
      { path: '/v2/secure/app/manifests/latest', tls: true },
      { path: '/token?service=test&scope=repository%3Asecure%2Fapp%3Apull', tls: true, authorization: BASIC },
      { path: '/v2/secure/app/manifests/latest', tls: true, authorization: 'Bearer t0k' },
    ]);
  });

  it('takes an HTTPS realm on another host, a plain-HTTP one only from a plain-HTTP registry, and nothing else', () => {
    expect(tokenRealm('https://auth.example/token', 'https://reg.example', true).href).toBe('https://auth.example/token');
    expect(tokenRealm('http://reg.example/token', 'http://reg.example', false).href).toBe('http://reg.example/token');
    expect(tokenRealm('https://reg.example/token', 'http://reg.example', false).href).toBe('https://reg.example/token');
    for (const [realm, base, tlsVerify] of [
      ['http://reg.example/token', 'https://reg.example', false],
      ['http://reg.example/token', 'https://reg.example', true],
      ['ftp://reg.example/token', 'http://reg.example', false],
      ['not a url', 'https://reg.example', true],
    ] as const)
      expect(() => tokenRealm(realm, base, tlsVerify), realm).toThrow(OpError);
  });
});

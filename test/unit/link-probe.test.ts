// LinkProbe over real connections to a local HTTP server that plays the
// engine: a connection that wrote and hears nothing is failed only once the
// engine stops answering pings; while pings are answered (a slow upload, a
// long load) it is left alone; a connection that only waits to read (a
// quiet step's output) is never the probe's business.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, Agent, type IncomingMessage, type Server } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkProbe } from '../../src/engine/link-probe.js';

let server: Server;
let port = 0;
let pingsHang = false;
let pings = 0;
const held: IncomingMessage[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/_ping') {
      pings++;
      if (!pingsHang) res.end('OK');
      return; // a dead link: no answer
    }
    if (req.url === '/chat') {
      // Answers at once, then takes what comes and says nothing more: the client writes right after that answer.
      res.writeHead(200);
      res.write('hello\n');
      req.resume();
      held.push(req);
      return;
    }
    if (req.url === '/quiet') {
      // Headers and a first line, then nothing: a step's output during a quiet step.
      res.writeHead(200);
      res.write('started\n');
      held.push(req);
      return;
    }
    // An upload the engine takes and does not answer yet (a load that registers).
    req.resume();
    held.push(req);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

const TIMINGS = { silenceMs: 300, tickMs: 50, pingTimeoutMs: 200 };

/** `agent` (plain or TLS) with a LinkProbe on every connection it makes to 127.0.0.1:`to`, as tcp-agent.ts does. */
function probed<A extends Agent>(agent: A, to: number): A {
  const probe = new LinkProbe(agent, { host: '127.0.0.1', port: to }, TIMINGS);
  const self = agent as unknown as { createConnection: (o: object, cb?: unknown) => Socket };
  const create = self.createConnection.bind(agent);
  self.createConnection = (o, cb) => {
    const socket = create(o, cb);
    probe.watch(socket);
    return socket;
  };
  return agent;
}

function probedAgent(): Agent {
  return probed(new Agent({ keepAlive: true }), port);
}

/** A request through `agent`; `outcome` settles with its error, or 'open' while it lasts. */
function open(agent: Agent, method: string, path: string, body?: Buffer) {
  let outcome: Error | 'answered' | 'open' = 'open';
  const req = request({ host: '127.0.0.1', port, path, method, agent }, (res) => {
    res.on('data', () => {});
    res.on('error', (err) => (outcome = err));
    res.on('end', () => (outcome = 'answered'));
  });
  req.on('error', (err) => (outcome = err));
  if (body) req.write(body);
  else req.end();
  return { req, outcome: () => outcome };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LinkProbe', () => {
  it('leaves a silent upload alone while the engine answers pings, and fails it once two pings in a row go unanswered', async () => {
    pingsHang = false;
    pings = 0;
    const agent = probedAgent();
    const upload = open(agent, 'POST', '/images/load', Buffer.alloc(64 * 1024, 1));
    await sleep(1500);
    expect(upload.outcome()).toBe('open');
    expect(pings).toBeGreaterThanOrEqual(2);
    // The link dies: pings get no answer.
    pingsHang = true;
    const before = pings;
    await sleep(1500);
    const err = upload.outcome() as NodeJS.ErrnoException;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe(
      `the engine at 127.0.0.1:${port} stopped answering: nothing came back for 0.3 s after a write, and 2 pings in a row got no answer (no answer within 0.2 s)`,
    );
    expect(pings - before).toBe(2);
    agent.destroy();
  });

  it('a write right after a read counts, however close together (keys typed just before the link died)', async () => {
    pingsHang = true;
    pings = 0;
    const agent = probedAgent();
    let failed: Error | 'open' = 'open';
    const req = request({ host: '127.0.0.1', port, path: '/chat', method: 'POST', agent }, (res) => {
      res.on('data', () => req.write('typed\n'));
      res.on('error', () => {}); // "aborted": the connection's own error is the request's
    });
    req.on('error', (err) => (failed = err));
    req.write('first\n');
    await sleep(1500);
    expect(String(failed)).toMatch(/stopped answering: nothing came back for 0\.3 s after a write/);
    expect(pings).toBe(2);
    agent.destroy();
  });

  it('never pings for a connection that only waits to read, even when pings would go unanswered', async () => {
    pingsHang = true;
    pings = 0;
    const agent = probedAgent();
    const quiet = open(agent, 'GET', '/quiet');
    await sleep(1500);
    expect(quiet.outcome()).toBe('open');
    expect(pings).toBe(0);
    quiet.req.destroy();
    agent.destroy();
  });
});

describe('LinkProbe on a TLS engine (the agent of a tcp:// engine with TLS)', () => {
  let tlsServer: HttpsServer;
  let tlsPort = 0;
  let tlsPingsHang = false;
  let tlsPings = 0;
  let ca: Buffer;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ndt-link-probe-'));
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1'].concat([
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ]),
      { stdio: 'ignore' },
    );
    ca = readFileSync(cert);
    tlsServer = createHttpsServer({ key: readFileSync(key), cert: ca }, (req, res) => {
      if (req.url === '/_ping') {
        tlsPings++;
        if (!tlsPingsHang) res.end('OK');
        return;
      }
      req.resume();
      held.push(req);
    });
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    tlsPort = (tlsServer.address() as AddressInfo).port;
  });
  afterAll(() => {
    tlsServer.closeAllConnections();
    rmSync(dir, { recursive: true, force: true });
    return new Promise<void>((r) => tlsServer.close(() => r()));
  });

  it("pings over TLS with the agent's own trust: answered, the silent upload stays; unanswered, it fails", async () => {
    const agent = probed(new HttpsAgent({ keepAlive: true, ca }), tlsPort);
    let failed: Error | 'open' = 'open';
    const req = httpsRequest({ host: '127.0.0.1', port: tlsPort, path: '/images/load', method: 'POST', agent });
    req.on('error', (err) => (failed = err));
    req.write(Buffer.alloc(64 * 1024, 1));
    await sleep(1500);
    expect(failed).toBe('open');
    expect(tlsPings).toBeGreaterThanOrEqual(2);
    tlsPingsHang = true;
    await sleep(1500);
    expect(String(failed)).toMatch(/stopped answering: nothing came back for 0\.3 s after a write, and 2 pings in a row got no answer/);
    agent.destroy();
  });
});

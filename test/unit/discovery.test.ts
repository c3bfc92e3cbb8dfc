// Engine discovery without an engine: DOCKER_HOST parsing and TLS, Docker
// contexts from a context store written here, the socket search order, the
// explicit dockerode options, and remote detection.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { engineLocality, openEngine, type Engine } from '../../src/engine/connect.js';
import { contextDigest, currentContext, dockerConfigDir } from '../../src/engine/contexts.js';
import { discoverEngine, dockerodeOptions, isRemoteEndpoint, isThisHost, parseHost, type Endpoint } from '../../src/engine/discovery.js';
import { OpError } from '../../src/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'ndt-discovery-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function scratch(): string {
  const d = join(tmp, String(n++));
  mkdirSync(d, { recursive: true });
  return d;
}

const none = () => false;

/** Writes a context into the store under `config`, as `docker context create` does. */
function writeContext(
  config: string,
  name: string,
  host: string,
  opts: { skipTlsVerify?: boolean; tls?: Array<'ca' | 'cert' | 'key'> } = {},
): string {
  const digest = createHash('sha256').update(name).digest('hex');
  const meta = join(config, 'contexts', 'meta', digest);
  mkdirSync(meta, { recursive: true });
  writeFileSync(
    join(meta, 'meta.json'),
    JSON.stringify({
      Name: name,
      Metadata: { Description: 'test' },
      Endpoints: { docker: { Host: host, SkipTLSVerify: opts.skipTlsVerify ?? false } },
    }),
  );
  if (opts.tls) {
    const dir = join(config, 'contexts', 'tls', digest, 'docker');
    mkdirSync(dir, { recursive: true });
    for (const f of opts.tls) writeFileSync(join(dir, `${f}.pem`), `${f} of ${name}\n`);
  }
  return digest;
}

describe('DOCKER_HOST', () => {
  it('unix, tcp, ssh and a bare host:port', () => {
    const d = (DOCKER_HOST: string) => discoverEngine({ env: { DOCKER_HOST }, home: scratch(), isSocket: none }).chosen;
    expect(d('unix:///run/x.sock')).toMatchObject({
      where: 'unix:///run/x.sock',
      how: 'DOCKER_HOST',
      explicit: true,
      endpoint: { kind: 'unix', path: '/run/x.sock' },
    });
    expect(d('unix://').endpoint).toEqual({ kind: 'unix', path: '/var/run/docker.sock' });
    expect(d('tcp://10.1.2.3:2375')).toMatchObject({
      where: 'tcp://10.1.2.3:2375',
      endpoint: { kind: 'tcp', host: '10.1.2.3', port: 2375, tls: null },
    });
    expect(d('tcp://builder')).toMatchObject({ where: 'tcp://builder:2375' });
    expect(d('127.0.0.1:9999').endpoint).toMatchObject({ kind: 'tcp', host: '127.0.0.1', port: 9999 });
    expect(d('tcp://[::1]:2375').where).toBe('tcp://[::1]:2375');
    expect(d('ssh://me@build.example:2222')).toMatchObject({
      where: 'ssh://me@build.example:2222',
      endpoint: { kind: 'ssh', host: 'build.example', port: 2222, user: 'me' },
    });
    expect(d('ssh://build.example').endpoint).toMatchObject({ kind: 'ssh', port: 22, user: undefined });
  });

  it('refuses what is not an engine address, naming it', () => {
    for (const bad of ['fd://', 'http2://x', 'tcp://']) {
      const err = (() => {
        try {
          discoverEngine({ env: { DOCKER_HOST: bad }, home: scratch(), isSocket: none });
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(err).toBeInstanceOf(OpError);
      expect((err as OpError).code).toBe('engine_address');
      expect((err as OpError).message).toContain(bad);
    }
  });

  it('TLS: DOCKER_TLS_VERIFY with DOCKER_CERT_PATH, port 2376, DOCKER_TLS without verification, ~/.docker as the default cert path', () => {
    const certs = scratch();
    for (const f of ['ca', 'cert', 'key']) writeFileSync(join(certs, `${f}.pem`), f);
    const home = scratch();
    const tls = (env: NodeJS.ProcessEnv) => {
      const e = discoverEngine({ env, home, isSocket: none }).chosen.endpoint;
      return e.kind === 'tcp' ? { port: e.port, tls: e.tls } : null;
    };
    expect(tls({ DOCKER_HOST: 'tcp://127.0.0.1:4000', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs })).toEqual({
      port: 4000,
      tls: { verify: true, ca: join(certs, 'ca.pem'), cert: join(certs, 'cert.pem'), key: join(certs, 'key.pem') },
    });
    expect(tls({ DOCKER_HOST: 'tcp://127.0.0.1', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs })?.port).toBe(2376);
    expect(tls({ DOCKER_HOST: 'tcp://h:2376' })?.tls).toEqual({ verify: true, ca: undefined, cert: undefined, key: undefined });
    expect(tls({ DOCKER_HOST: 'tcp://h:4000', DOCKER_TLS: '1', DOCKER_CERT_PATH: certs })?.tls?.verify).toBe(false);
    expect(tls({ DOCKER_HOST: 'tcp://h:4000', DOCKER_TLS_VERIFY: '0' })?.tls).toBeNull();
    expect(tls({ DOCKER_HOST: 'tcp://h:4000', DOCKER_CERT_PATH: certs })?.tls).toBeNull();
    // Without DOCKER_CERT_PATH the files come from $DOCKER_CONFIG (else ~/.docker).
    mkdirSync(join(home, '.docker'), { recursive: true });
    writeFileSync(join(home, '.docker', 'ca.pem'), 'ca');
    expect(tls({ DOCKER_HOST: 'tcp://h:4000', DOCKER_TLS_VERIFY: '1' })?.tls).toEqual({
      verify: true,
      ca: join(home, '.docker', 'ca.pem'),
      cert: undefined,
      key: undefined,
    });
  });

  it('comes before a context, as in the docker CLI', () => {
    const config = scratch();
    writeContext(config, 'colima', 'unix:///colima.sock');
    const found = discoverEngine({
      env: { DOCKER_HOST: 'unix:///x.sock', DOCKER_CONTEXT: 'colima', DOCKER_CONFIG: config },
      home: scratch(),
      isSocket: none,
    });
    expect(found.chosen.how).toBe('DOCKER_HOST');
    expect(found.trace.join('\n')).toMatch(/DOCKER_CONTEXT=colima is not used/);
  });
});

describe('Docker contexts', () => {
  it('the context store is named by the SHA-256 of the context name', () => {
    expect(contextDigest('default')).toBe('37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f');
  });

  it('currentContext in ~/.docker/config.json, then its endpoint from the store', () => {
    const home = scratch();
    const config = join(home, '.docker');
    mkdirSync(config, { recursive: true });
    writeFileSync(join(config, 'config.json'), JSON.stringify({ auths: {}, currentContext: 'colima' }));
    writeContext(config, 'colima', 'unix:///Users/me/.colima/default/docker.sock');
    const found = discoverEngine({ env: {}, home, isSocket: () => true });
    expect(found.chosen).toMatchObject({ where: 'unix:///Users/me/.colima/default/docker.sock', how: 'context colima', explicit: true });
    expect(found.trace.join('\n')).toContain(`currentContext in ${join(config, 'config.json')}`);
  });

  it('DOCKER_CONTEXT wins over config.json; DOCKER_CONFIG moves the config dir', () => {
    const config = scratch();
    writeFileSync(join(config, 'config.json'), JSON.stringify({ currentContext: 'a' }));
    writeContext(config, 'a', 'unix:///a.sock');
    writeContext(config, 'b', 'unix:///b.sock');
    expect(dockerConfigDir({ DOCKER_CONFIG: config }, '/home/x')).toBe(config);
    expect(discoverEngine({ env: { DOCKER_CONFIG: config }, home: scratch(), isSocket: none }).chosen.how).toBe('context a');
    expect(discoverEngine({ env: { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'b' }, home: scratch(), isSocket: none }).chosen.where).toBe(
      'unix:///b.sock',
    );
  });

  it('"default" is no context: the sockets are searched', () => {
    const config = scratch();
    writeFileSync(join(config, 'config.json'), JSON.stringify({ currentContext: 'default' }));
    expect(currentContext(config, {})).toBeNull();
    expect(currentContext(config, { DOCKER_CONTEXT: 'default' })).toBeNull();
    expect(
      discoverEngine({ env: { DOCKER_CONFIG: config }, home: scratch(), isSocket: (p) => p === '/var/run/docker.sock' }).chosen.how,
    ).toBe('default socket');
  });

  it('a named context that does not exist is an error naming it and where the name came from, never skipped', () => {
    const config = scratch();
    writeFileSync(join(config, 'config.json'), JSON.stringify({ currentContext: 'gone' }));
    for (const env of [{ DOCKER_CONFIG: config }, { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'missing' }]) {
      let err: unknown;
      try {
        discoverEngine({ env, home: scratch(), isSocket: () => true });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OpError);
      expect((err as OpError).code).toBe('engine_context');
      expect((err as OpError).message).toMatch(
        env.DOCKER_CONTEXT ? /"missing" \(DOCKER_CONTEXT\) does not exist/ : /"gone" \(currentContext in .*config.json\) does not exist/,
      );
      expect((err as OpError).hint).toMatch(/docker context use/);
    }
  });

  it('a context with no docker endpoint is an error', () => {
    const config = scratch();
    const digest = contextDigest('k8s');
    mkdirSync(join(config, 'contexts', 'meta', digest), { recursive: true });
    writeFileSync(join(config, 'contexts', 'meta', digest, 'meta.json'), JSON.stringify({ Name: 'k8s', Endpoints: {} }));
    expect(() => discoverEngine({ env: { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'k8s' }, home: scratch(), isSocket: none })).toThrow(
      /no docker endpoint/,
    );
  });

  it('an unreadable config.json is reported in the trace and otherwise ignored (as the docker CLI does)', () => {
    const config = scratch();
    writeFileSync(join(config, 'config.json'), '{not json');
    const found = discoverEngine({ env: { DOCKER_CONFIG: config }, home: scratch(), isSocket: none });
    expect(found.chosen.how).toBe('default socket');
    expect(found.trace.join('\n')).toMatch(/config.json cannot be read/);
  });

  it('TLS material of a tcp context, and SkipTLSVerify', () => {
    const config = scratch();
    const digest = writeContext(config, 'remote-tls', 'tcp://127.0.0.1:23760', { tls: ['ca', 'cert', 'key'] });
    writeContext(config, 'skip', 'tcp://127.0.0.1:23761', { skipTlsVerify: true });
    writeContext(config, 'plain', 'tcp://127.0.0.1:23762');
    const tlsDir = join(config, 'contexts', 'tls', digest, 'docker');
    const ep = (name: string) =>
      discoverEngine({ env: { DOCKER_CONFIG: config, DOCKER_CONTEXT: name }, home: scratch(), isSocket: none }).chosen.endpoint;
    expect(ep('remote-tls')).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 23760,
      tls: { verify: true, ca: join(tlsDir, 'ca.pem'), cert: join(tlsDir, 'cert.pem'), key: join(tlsDir, 'key.pem') },
    });
    expect(ep('skip')).toMatchObject({ tls: { verify: false } });
    expect(ep('plain')).toMatchObject({ tls: null });
  });
});

describe('the socket search', () => {
  const home = '/home/dev';
  const env = { XDG_RUNTIME_DIR: '/run/user/1000' };
  const order = [
    ['/run/user/1000/docker.sock', 'rootless socket'],
    ['/var/run/docker.sock', 'default socket'],
    ['/home/dev/.docker/run/docker.sock', 'Docker Desktop socket'],
    ['/run/podman/podman.sock', 'podman rootful socket'],
    ['/run/user/1000/podman/podman.sock', 'podman rootless socket'],
  ] as const;

  it('takes the first socket that exists, in order', () => {
    for (let i = 0; i < order.length; i++) {
      const present = new Set<string>(order.slice(i).map(([p]) => p));
      const found = discoverEngine({ env, home, uid: 1000, isSocket: (p) => present.has(p) });
      expect(found.chosen).toMatchObject({ where: `unix://${order[i]![0]}`, how: order[i]![1], explicit: false });
    }
  });

  it('without XDG_RUNTIME_DIR a non-root user still gets /run/user/UID; root skips the per-user sockets', () => {
    expect(discoverEngine({ env: {}, home, uid: 1000, isSocket: (p) => p === '/run/user/1000/docker.sock' }).chosen.how).toBe(
      'rootless socket',
    );
    const rootTrace = discoverEngine({ env: {}, home: '/root', uid: 0, isSocket: none }).trace.join('\n');
    expect(rootTrace).not.toContain('rootless');
  });

  it('no socket anywhere: the default socket, with the places looked at', () => {
    const found = discoverEngine({ env, home, uid: 1000, isSocket: none });
    expect(found.chosen).toMatchObject({ where: 'unix:///var/run/docker.sock', how: 'default socket' });
    expect(found.missing).toEqual(order.map(([p]) => p));
    expect(found.trace.at(-1)).toBe('-> using unix:///var/run/docker.sock (default socket)');
  });
});

describe('the dockerode client', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of ['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'NERVES_DEBUG', 'NDT_NOTICE_FD']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    vi.restoreAllMocks();
  });

  it("gets explicit options that override docker-modem's own reading of DOCKER_HOST", () => {
    // A tcp DOCKER_HOST in the process environment must not leak into a client built for a context's unix socket.
    process.env.DOCKER_HOST = 'tcp://10.9.9.9:2375';
    const config = scratch();
    writeContext(config, 'sock', 'unix:///tmp/ndt-nowhere.sock');
    const engine = openEngine({ DOCKER_CONFIG: config, DOCKER_CONTEXT: 'sock' });
    const modem = (engine.docker as unknown as { modem: { socketPath?: string; host?: string } }).modem;
    expect(engine.how).toBe('context sock');
    expect(modem.host).toBeUndefined();
    expect(modem.socketPath).toBe('/tmp/ndt-nowhere.sock');
  });

  it('tcp with TLS reads the PEM files; skipping verification uses an agent that does not reject', () => {
    const certs = scratch();
    for (const f of ['ca', 'cert', 'key']) writeFileSync(join(certs, `${f}.pem`), `${f}-data`);
    const verify = dockerodeOptions({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 1,
      tls: { verify: true, ca: join(certs, 'ca.pem'), cert: join(certs, 'cert.pem'), key: join(certs, 'key.pem') },
    });
    expect(verify).toMatchObject({ host: '127.0.0.1', port: 1, protocol: 'https', socketPath: undefined });
    expect(String(verify.ca)).toBe('ca-data');
    expect(String(verify.key)).toBe('key-data');
    type WithAgent = { agent?: { options: { rejectUnauthorized?: boolean; keepAlive?: boolean } } };
    // Every tcp engine gets the bounded agent (tcp-agent.ts): keep-alive, a connect timeout.
    expect((verify as WithAgent).agent?.options).toMatchObject({ keepAlive: true });
    expect((verify as WithAgent).agent?.options.rejectUnauthorized).toBeUndefined();
    const skip = dockerodeOptions({ kind: 'tcp', host: 'h', port: 1, tls: { verify: false } }) as WithAgent;
    expect(skip.agent?.options.rejectUnauthorized).toBe(false);
    const plain = dockerodeOptions({ kind: 'tcp', host: 'h', port: 1, tls: null }) as WithAgent;
    expect(plain).toMatchObject({ protocol: 'http', agent: { options: { keepAlive: true } } });
    expect(() => dockerodeOptions({ kind: 'tcp', host: 'h', port: 1, tls: { verify: true, ca: join(certs, 'nope.pem') } })).toThrow(
      /cannot read the TLS CA certificate/,
    );
    expect(dockerodeOptions({ kind: 'ssh', host: 'b', port: 22, user: 'u' }, { SSH_AUTH_SOCK: '/agent' })).toMatchObject({
      protocol: 'ssh',
      host: 'b',
      username: 'u',
      sshOptions: { agent: '/agent' },
    });
  });

  it('NERVES_DEBUG=1 prints the search to stderr', () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    openEngine({ DOCKER_HOST: 'unix:///tmp/ndt-x.sock', NERVES_DEBUG: '1' });
    openEngine({ DOCKER_HOST: 'unix:///tmp/ndt-y.sock' });
    expect(lines).toEqual([
      'nerves_docker_ts: engine: DOCKER_HOST=unix:///tmp/ndt-x.sock\n',
      'nerves_docker_ts: engine: -> using unix:///tmp/ndt-x.sock (DOCKER_HOST)\n',
    ]);
  });
});

describe('remote engines', () => {
  it('knows this host by loopback, name and interface address, without DNS', () => {
    for (const h of [
      'localhost',
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      'LOCALHOST',
      'build.localhost',
      'mybox',
      'mybox.lan',
      '192.168.7.7',
    ]) {
      expect(isThisHost(h, ['mybox.lan'], ['192.168.7.7']), h).toBe(true);
    }
    for (const h of ['10.0.0.5', 'builder.example.com', 'otherbox', '::2']) {
      expect(isThisHost(h, ['mybox.lan'], ['192.168.7.7']), h).toBe(false);
    }
  });

  it('unix sockets are local; tcp and ssh to another host are remote', () => {
    const cases: Array<[Endpoint, boolean]> = [
      [{ kind: 'unix', path: '/var/run/docker.sock' }, false],
      [{ kind: 'tcp', host: '127.0.0.1', port: 2376, tls: null }, false],
      [{ kind: 'tcp', host: '203.0.113.9', port: 2376, tls: null }, true],
      [{ kind: 'ssh', host: 'localhost', port: 22 }, false],
      [{ kind: 'ssh', host: 'builder.example.com', port: 22 }, true],
    ];
    for (const [e, remote] of cases) expect(isRemoteEndpoint(e, ['mybox'], []), JSON.stringify(e)).toBe(remote);
    expect(parseHost('tcp://203.0.113.9', 'x', () => null)).toMatchObject({ host: '203.0.113.9', port: 2375 });
  });

  function fakeEngine(name: string, remote = true): Engine {
    return {
      docker: { info: async () => ({ Name: name }) } as never,
      where: 'tcp://203.0.113.9:2376',
      how: 'DOCKER_HOST',
      endpoint: { kind: 'tcp', host: '203.0.113.9', port: 2376, tls: null },
      remote,
      explicit: true,
      missing: [],
    };
  }

  it('an engine on another machine is not local, and says which machine', async () => {
    const where = await engineLocality(fakeEngine('buildhost'), {});
    expect(where.local).toBe(false);
    expect(where.reason).toContain('tcp://203.0.113.9:2376 runs on "buildhost"');
  });

  it('NERVES_DOCKER_TS_REMOTE_OK=1, or an engine reporting this host name, lets it through', async () => {
    expect((await engineLocality(fakeEngine('buildhost'), { NERVES_DOCKER_TS_REMOTE_OK: '1' })).local).toBe(true);
    expect((await engineLocality(fakeEngine(hostname()), {})).local).toBe(true);
    expect((await engineLocality(fakeEngine('anything', false), {})).local).toBe(true);
  });
});

// The runner through a second dockerd that listens on 127.0.0.1 with TLS
// (certificates made by openssl; scripts/test-engines/tls-dockerd): found
// through DOCKER_HOST with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, and through
// a Docker context written into a private DOCKER_CONFIG. Needs root, dockerd
// and openssl (scripts/setup --test installs them).
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { contextDigest } from '../../../src/engine/contexts.js';
import { connectChecked } from '../../../src/runner/job/preflight.js';
import { copyExample, docker as mainEngine, NEW_TAG, ROOT, type Example } from '../helpers/example.js';
import { ensureExampleImages } from '../helpers/images.js';
import { buildExample, cleanExample, copyImage, engineScript, freePort, hasCommand, opError, withEngineEnv } from './engine-helpers.js';

const run = promisify(execFile);

/** Writes a context into a docker config dir as `docker context create` does, with TLS files when given. */
function writeContext(config: string, name: string, host: string, tlsFrom?: string): void {
  const digest = contextDigest(name);
  mkdirSync(join(config, 'contexts', 'meta', digest), { recursive: true });
  writeFileSync(
    join(config, 'contexts', 'meta', digest, 'meta.json'),
    JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }),
  );
  if (tlsFrom) {
    const tls = join(config, 'contexts', 'tls', digest, 'docker');
    mkdirSync(tls, { recursive: true });
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) copyFileSync(join(tlsFrom, f), join(tls, f));
  }
}

describe('a TLS engine on 127.0.0.1 (second dockerd)', () => {
  let dir = '';
  let port = 0;
  let clientCerts = '';
  let tlsEngine: Docker;
  let ex: Example | undefined;
  let scratch = '';
  let volume = '';

  beforeAll(async () => {
    await ensureExampleImages([NEW_TAG]); // copied from the main engine below
    if (process.getuid?.() !== 0)
      throw new Error('the TLS test starts a second dockerd: run it as root (make test on the Debian test machine)');
    for (const cmd of ['dockerd', 'openssl', 'curl']) {
      if (!hasCommand(cmd))
        throw new Error(`${cmd} is not installed: scripts/setup --test installs the packages in scripts/test-apt-packages.txt`);
    }
    // Short path: containerd's sockets live under the exec root.
    dir = mkdtempSync('/tmp/ndt-tls-');
    port = await freePort();
    await engineScript('tls-dockerd', 'start', dir, String(port));
    clientCerts = join(dir, 'certs', 'client');
    tlsEngine = new Docker({ socketPath: join(dir, 'docker.sock') });
    await copyImage(mainEngine, tlsEngine, NEW_TAG);
    ex = copyExample('ndt-tls-');
    scratch = mkdtempSync(join(tmpdir(), 'ndt-tls-config-'));
  }, 120_000);

  afterAll(async () => {
    if (dir) await engineScript('tls-dockerd', 'stop', dir);
    ex?.remove();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  const tlsEnv = () => ({ DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: clientCerts });

  it('DOCKER_HOST=tcp://127.0.0.1:PORT with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH: found, local, Docker', async () => {
    const { engine, version } = await withEngineEnv(tlsEnv(), () => connectChecked());
    expect(engine).toMatchObject({ where: `tcp://127.0.0.1:${port}`, how: 'DOCKER_HOST', remote: false, explicit: true });
    expect(engine.endpoint).toMatchObject({ kind: 'tcp', tls: { verify: true, ca: join(clientCerts, 'ca.pem') } });
    expect(version.engine).toBe('docker');
  });

  it('builds the example through TLS: the volume is on the TLS engine, no container left', async () => {
    const result = await withEngineEnv(tlsEnv(), () => buildExample(ex!, tlsEngine));
    volume = result.volume;
    const mainVolumes = (await mainEngine.listVolumes()).Volumes ?? [];
    expect(mainVolumes.map((v) => v.Name)).not.toContain(volume);
  });

  it('refuses plain HTTP to the TLS port and an engine certificate it cannot verify, naming the engine', async () => {
    const plain = await opError(withEngineEnv({ DOCKER_HOST: `tcp://127.0.0.1:${port}` }, () => connectChecked()));
    expect(plain.code).toBe('engine_unavailable');
    expect(plain.message).toContain(`tcp://127.0.0.1:${port} (DOCKER_HOST)`);
    expect(plain.hint).toMatch(/DOCKER_HOST/);
    // The client certificate without the CA that signed the engine's.
    const noCa = join(scratch, 'no-ca');
    mkdirSync(noCa, { recursive: true });
    for (const f of ['cert.pem', 'key.pem']) copyFileSync(join(clientCerts, f), join(noCa, f));
    const untrusted = await opError(withEngineEnv({ ...tlsEnv(), DOCKER_CERT_PATH: noCa }, () => connectChecked()));
    expect(untrusted.code).toBe('engine_unavailable');
    expect(untrusted.message).toMatch(/certificate/i);
  });

  it('a Docker context (currentContext in DOCKER_CONFIG/config.json) naming the TLS engine is found and used; NERVES_DEBUG=1 says so', async () => {
    const config = join(scratch, 'docker-config');
    mkdirSync(config, { recursive: true });
    writeFileSync(join(config, 'config.json'), JSON.stringify({ auths: {}, currentContext: 'ndt-tls' }));
    writeContext(config, 'ndt-tls', `tcp://127.0.0.1:${port}`, clientCerts);
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    let engineHow = '';
    try {
      const { engine } = await withEngineEnv({ DOCKER_CONFIG: config, NERVES_DEBUG: '1' }, () => connectChecked());
      engineHow = engine.how;
      expect(engine.where).toBe(`tcp://127.0.0.1:${port}`);
    } finally {
      spy.mockRestore();
    }
    expect(engineHow).toBe('context ndt-tls');
    const debug = lines.join('');
    expect(debug).toContain('DOCKER_HOST is not set');
    expect(debug).toContain(`context "ndt-tls" (currentContext in ${join(config, 'config.json')}): tcp://127.0.0.1:${port} (TLS with`);
    expect(debug).toContain(`-> using tcp://127.0.0.1:${port} (context ndt-tls)`);
    expect(debug).toMatch(/is docker 20\.|is docker \d+/);
    // The build and clean go through the context: the same volume, on the TLS engine.
    const again = await withEngineEnv({ DOCKER_CONFIG: config }, () => buildExample(ex!, tlsEngine));
    expect(again.volume).toBe(volume);
  });

  it('nerves-docker doctor says where the engine answers and how it was found (NERVES_DEBUG=1: the search on stderr)', async () => {
    const cli = join(ROOT, 'priv/nerves-docker.mjs');
    if (!existsSync(cli)) throw new Error('priv/ is not built: run `npm run build` (make test does).');
    const config = join(scratch, 'docker-config');
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: config, NERVES_DEBUG: '1' };
    for (const k of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'NDT_NOTICE_FD']) delete env[k];
    const { stdout, stderr } = await run('node', [cli, 'doctor'], { env, maxBuffer: 16 << 20 }).catch(
      (e: { stdout: string; stderr: string }) => e,
    );
    expect(stdout).toContain(`engine: answers at tcp://127.0.0.1:${port} (context ndt-tls)`);
    expect(stdout).toMatch(/engine version: docker /);
    expect(stderr).toContain(`nerves_docker_ts: engine: -> using tcp://127.0.0.1:${port} (context ndt-tls)`);
  });

  it("DOCKER_CONTEXT picks a context over config.json (here: the TLS engine's unix socket), and clean goes through it", async () => {
    const config = join(scratch, 'docker-config');
    writeContext(config, 'ndt-unix', `unix://${join(dir, 'docker.sock')}`);
    const { engine } = await withEngineEnv({ DOCKER_CONFIG: config, DOCKER_CONTEXT: 'ndt-unix' }, () => connectChecked());
    expect(engine).toMatchObject({ how: 'context ndt-unix', where: `unix://${join(dir, 'docker.sock')}`, remote: false });
    await withEngineEnv({ DOCKER_CONFIG: config, DOCKER_CONTEXT: 'ndt-unix' }, () => cleanExample(ex!, tlsEngine, volume));
  });

  it('with no DOCKER_HOST and no context, a rootless socket in $XDG_RUNTIME_DIR comes before the default socket', async () => {
    const xdg = join(scratch, 'xdg');
    mkdirSync(xdg, { recursive: true });
    symlinkSync(join(dir, 'docker.sock'), join(xdg, 'docker.sock'));
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = xdg;
    try {
      const { engine } = await withEngineEnv({ DOCKER_CONFIG: join(scratch, 'empty-config') }, () => connectChecked());
      expect(engine).toMatchObject({ how: 'rootless socket', where: `unix://${join(xdg, 'docker.sock')}`, explicit: false });
      // It is the TLS engine's socket: the image loaded there is present.
      expect((await engine.docker.getImage(NEW_TAG).inspect()).RepoTags).toContain(NEW_TAG);
    } finally {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = saved;
    }
  });

  it('a context that does not exist is an error naming it, not a fallback to another engine', async () => {
    const config = join(scratch, 'docker-config');
    const err = await opError(withEngineEnv({ DOCKER_CONFIG: config, DOCKER_CONTEXT: 'ndt-gone' }, () => connectChecked()));
    expect(err.code).toBe('engine_context');
    expect(err.message).toContain('"ndt-gone" (DOCKER_CONTEXT) does not exist');
  });
});

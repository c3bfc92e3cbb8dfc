// GET /version from an address that is not a Docker engine (another HTTP
// server at DOCKER_HOST): one engine_answer error saying so, what it
// answered (briefly), and a hint at DOCKER_HOST and the context, instead of
// "cannot parse docker version """ and two hints to upgrade Docker.
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/connect.js';
import { engineVersion } from '../../src/engine/version.js';
import { exitCodeFor, OpError } from '../../src/errors.js';

function answering(body: unknown): Engine {
  const docker = { version: () => Promise.resolve(body), modem: {} } as unknown as Docker;
  return { docker, where: 'tcp://127.0.0.1:47123', how: 'DOCKER_HOST' } as Engine;
}

async function refusal(body: unknown): Promise<OpError> {
  const err = await engineVersion(answering(body)).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpError);
  return err as OpError;
}

describe('an address that does not answer like a Docker engine', () => {
  it('says so, with what it answered, and points at DOCKER_HOST and the context', async () => {
    const err = await refusal(Buffer.from('hello'));
    expect(err.code).toBe('engine_answer');
    expect(exitCodeFor(err.code)).toBe(69);
    expect(err.message).toBe('tcp://127.0.0.1:47123 does not answer like a Docker engine: GET /version answered "hello", not its version');
    expect(err.message).not.toMatch(/cannot parse|Install Docker|upgrade/i);
    expect(err.hint).toMatch(/DOCKER_HOST/);
    expect(err.hint).toMatch(/docker context/);
    expect(err.hint).not.toMatch(/Install Docker|Upgrade/);
  });

  it('bounds what it quotes: a page of HTML is not dumped', async () => {
    const page = `<!DOCTYPE html>\n<html><body>${'x'.repeat(100_000)}</body></html>`;
    const err = await refusal(Buffer.from(page));
    expect(err.message.length).toBeLessThan(250);
    expect(err.message).toContain('"<!DOCTYPE html>\\n<html><body>xxx');
    expect(err.message).toMatch(/… \(100\d\d\d bytes\)/);
  });

  it('JSON that is not a version answer, and an empty answer, are refused too', async () => {
    expect((await refusal({ message: 'page not found' })).message).toMatch(
      /GET \/version answered JSON without a Version or ApiVersion \(keys: message\)/,
    );
    expect((await refusal([1, 2])).message).toMatch(/GET \/version answered a JSON list/);
    expect((await refusal(Buffer.alloc(0))).message).toMatch(/GET \/version answered nothing/);
    expect((await refusal('')).message).toMatch(/GET \/version answered nothing/);
  });

  it("an engine's answer passes", async () => {
    const v = await engineVersion(answering({ Version: '20.10.24', ApiVersion: '1.41', Os: 'linux', Arch: 'amd64' }));
    expect(v).toMatchObject({ engine: 'docker', version: '20.10.24', apiVersion: '1.41' });
  });
});

// The image toolkit only pinged the engine, and another HTTP server answers the ping's 200 too: the build ran,
// and the load failed at the end. A real loopback server that answers "hello" to everything.
describe("the image toolkit's engine, at an address that is not a Docker engine", () => {
  it('is refused before anything is built, as the runner refuses it', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = `tcp://127.0.0.1:${port}`;
    try {
      const { defaultEngine } = await import('../../src/image/index.js');
      const err = await defaultEngine().catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: 'engine_answer',
        message: `tcp://127.0.0.1:${port} does not answer like a Docker engine: GET /version answered "hello", not its version`,
      });
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
      server.close();
    }
  });
});

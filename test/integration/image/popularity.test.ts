import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildLayeredImage } from '../../../src/image/index.js';
import { scanClosure } from '../../../src/image/closure.js';
import { popularityScores } from '../../../src/image/popularity.js';
import { Cleanup, engineAnswers, loadArchive, run, runIn, tempDir, busyboxRootfs } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const engine = await engineAnswers();
if (!engine) console.warn('SKIPPED image integration tests: the Docker engine does not answer on DOCKER_HOST / /var/run/docker.sock');

// The worked example as a fake store: A->B->C->D->F, C->E->F, B->E, A->G.
const EDGES: Record<string, string[]> = { A: ['B', 'G'], B: ['C', 'E'], C: ['D', 'E'], D: ['F'], E: ['F'], F: [], G: [] };
const HASH: Record<string, string> = { A: '0a', B: '1b', C: '2c', D: '3d', E: '4f', F: '5g', G: '6h' };

describe.skipIf(!engine)('popularity layering of a real build', () => {
  const cleanup = new Cleanup();
  let work: { path: string; remove(): Promise<void> };
  let store: string;
  const sp = (n: string) => join(store, `${HASH[n]!.padEnd(32, '0')}-pkg${n}`);

  beforeAll(async () => {
    work = await tempDir('ndt-pop-');
    store = join(work.path, 'nix-store');
    for (const [n, refs] of Object.entries(EDGES)) {
      await mkdir(join(sp(n), 'share'), { recursive: true });
      // references are found the way Nix finds them: absolute paths inside files
      await writeFile(join(sp(n), 'share', 'refs'), refs.map(sp).join('\n') + `\nself ${sp(n)}\n`);
    }
  });
  afterAll(async () => {
    await cleanup.run();
    await work?.remove();
  });

  async function history(archive: string): Promise<string[]> {
    const cfg = JSON.parse((await run('skopeo', ['inspect', '--config', `docker-archive:${archive}`])).stdout) as {
      history: { comment: string }[];
    };
    return cfg.history.map((h) =>
      h.comment.startsWith('store paths: ')
        ? h.comment
            .slice(13)
            .split(' ')
            .map((p) => p.replace(/^.*-pkg/, ''))
            .join(',')
        : h.comment,
    );
  }

  it("finds the worked example's graph by scanning and scores it A1 B2 C3 D4 E5 F9 G2", async () => {
    const graph = await scanClosure([sp('A')], store);
    const scores = Object.fromEntries([...popularityScores(graph)].map(([p, s]) => [p.replace(/^.*-pkg/, ''), s]));
    expect(scores).toEqual({ A: 1, B: 2, C: 3, D: 4, E: 5, F: 9, G: 2 });
    const out = join(work.path, 'scan.tar');
    await buildLayeredImage({ name: 'ndt-test/pop', tag: 'scan', contents: [sp('A')], storeDir: store, out });
    expect(await history(out)).toEqual(['F', 'E', 'D', 'C', 'B', 'G', 'A', 'customisation layer']);
    const bare = join(work.path, 'bare.tar');
    await buildLayeredImage({
      name: 'ndt-test/pop',
      tag: 'bare',
      contents: [sp('A')],
      storeDir: store,
      includeStorePaths: false,
      out: bare,
    });
    expect(await history(bare)).toEqual(['customisation layer']);
  });

  it('groups the tail into one layer for a small maxLayers, from an exportReferencesGraph JSON', async () => {
    const graphFile = join(work.path, 'closure.json');
    const closure = Object.entries(EDGES).map(([n, refs]) => ({
      path: sp(n),
      references: [sp(n), ...refs.map(sp)],
      narSize: 100,
      narHash: 'sha256:0',
      closureSize: 0,
      valid: true,
    }));
    await writeFile(graphFile, JSON.stringify({ closure }));
    const rootfs = await busyboxRootfs(join(work.path, 'rootfs'), ['sh', 'cat']);
    const out = join(work.path, 'json.tar');
    // maxLayers 5: three paths get their own layer, the rest share one, then customisation
    await buildLayeredImage({
      name: 'ndt-test/pop',
      tag: 'json',
      contents: [sp('A')],
      storeDir: store,
      closureGraph: graphFile,
      maxLayers: 5,
      out,
      config: { Cmd: ['/busybox/bin/sh', '-c', `/busybox/bin/cat /share/refs ${sp('F')}/share/refs`] },
    });
    expect(await history(out)).toEqual(['F', 'E', 'D', 'C,B,G,A', 'customisation layer']);
    // nixpkgs' newer size-based auto layering, same budget: every path placed once, dependencies first
    const auto = join(work.path, 'auto.tar');
    await buildLayeredImage({
      name: 'ndt-test/pop',
      tag: 'auto',
      contents: [sp('A')],
      storeDir: store,
      closureGraph: graphFile,
      maxLayers: 5,
      layering: 'auto',
      out: auto,
    });
    const autoLayers = await history(auto);
    expect(autoLayers.length).toBeLessThanOrEqual(5);
    expect(autoLayers.at(-1)).toBe('customisation layer');
    expect(autoLayers.slice(0, -1).join(',').split(',').sort()).toEqual(['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    expect(autoLayers[0]!.split(',')).toContain('F');
    // and with the rootfs as plain contents, the image runs: store paths are where they were, A is linked into /
    const out2 = join(work.path, 'json-run.tar');
    await buildLayeredImage({
      name: 'ndt-test/pop',
      tag: 'run',
      contents: [sp('A'), rootfs],
      storeDir: store,
      closureGraph: graphFile,
      maxLayers: 5,
      out: out2,
      config: { Cmd: ['/bin/sh', '-c', `/bin/cat /share/refs ${sp('F')}/share/refs`] },
    });
    cleanup.images.add('ndt-test/pop:run');
    await loadArchive(out2);
    const res = await runIn('ndt-test/pop:run', undefined, cleanup);
    expect(res.code).toBe(0);
    expect(res.output).toContain(`self ${sp('A')}`);
    expect(res.output).toContain(`self ${sp('F')}`);
  });
});

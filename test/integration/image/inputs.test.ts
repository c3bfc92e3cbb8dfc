// Inputs users bring, that the toolkit did not make itself (issue 19, items
// 1-8): archives from `docker save` with shared layers, OCI layouts with
// several images or an image index, links into the store, checked against
// the engine and the peers (docker save/load, skopeo, umoci).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildImage, buildLayeredImage, exportImage } from "../../../src/image/index.js";
import { readTarFile } from "../../../src/image/tar-reader.js";
import { Cleanup, busyboxRootfs, engineAnswers, loadArchive, run, runIn, tempDir } from "./helpers.js";

vi.setConfig({ testTimeout: 180_000, hookTimeout: 120_000 });

const engine = await engineAnswers();
if (!engine) console.warn("SKIPPED image integration tests: the Docker engine does not answer on DOCKER_HOST / /var/run/docker.sock");

async function listing(file: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTarFile(file)) out.push(e.name);
  return out;
}

describe.skipIf(!engine)("inputs users bring", () => {
  const cleanup = new Cleanup();
  let work: { path: string; remove(): Promise<void> };
  let baseArchive: string;
  beforeAll(async () => {
    work = await tempDir("ndt-inputs-");
    const rootfs = await busyboxRootfs(join(work.path, "rootfs"), ["sh", "cat", "ls", "stat", "echo"]);
    baseArchive = join(work.path, "base.tar");
    await buildLayeredImage({ name: "ndt-test/inputs-base", tag: "b", contents: [rootfs], out: baseArchive });
  });
  afterAll(async () => {
    await cleanup.run();
    await work?.remove();
  });

  it("uses a `docker save` archive whose shared layers are symlinked layer.tar entries", async () => {
    // An empty copy-to-root gives a second empty layer, as the base's customisation layer is:
    // docker save writes it once and links the other <id>/layer.tar to it.
    const empty = join(work.path, "empty");
    const data = join(work.path, "data");
    await mkdir(empty);
    await mkdir(join(data, "srv"), { recursive: true });
    await writeFile(join(data, "srv", "note"), "from the saved image\n");
    const a = join(work.path, "a.tar");
    const b = join(work.path, "b.tar");
    await buildImage({ name: "ndt-test/inputs-a", tag: "t", fromImage: baseArchive, copyToRoot: empty, out: a });
    await buildImage({ name: "ndt-test/inputs-b", tag: "t", fromImage: baseArchive, copyToRoot: data, out: b });
    cleanup.images.add("ndt-test/inputs-a:t").add("ndt-test/inputs-b:t");
    await loadArchive(a);
    await loadArchive(b);
    const saved = join(work.path, "two.tar");
    await run("docker", ["save", "ndt-test/inputs-a:t", "ndt-test/inputs-b:t", "-o", saved]);
    const { stdout } = await run("tar", ["tvf", saved]);
    expect(stdout).toMatch(/^l.* [0-9a-f]{64}\/layer\.tar -> \.\.\/[0-9a-f]{64}\/layer\.tar$/m);

    const flat = join(work.path, "flat-a.tar");
    await exportImage({ fromImage: saved, fromImageName: "ndt-test/inputs-a", fromImageTag: "t", out: flat });
    expect(await listing(flat)).toContain("bin/busybox");

    const out = join(work.path, "on-saved.tar");
    await buildImage({
      name: "ndt-test/inputs-on-saved", tag: "t", fromImage: saved, fromImageName: "ndt-test/inputs-b", fromImageTag: "t",
      copyToRoot: empty, config: { Cmd: ["/bin/cat", "/srv/note"] }, out,
    });
    cleanup.images.add("ndt-test/inputs-on-saved:t");
    await loadArchive(out);
    const res = await runIn("ndt-test/inputs-on-saved:t", undefined, cleanup);
    expect(res).toMatchObject({ code: 0 });
    expect(res.output).toContain("from the saved image");
  });
});

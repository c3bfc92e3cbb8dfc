import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildLayeredImage, pullImage } from "../../../src/image/index.js";
import { Cleanup, busyboxRootfs, docker, engineAnswers, loadArchive, run, runIn, tempDir } from "./helpers.js";
import { startRegistry, startTokenFront, type LocalRegistry } from "./registry-helpers.js";

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const engine = await engineAnswers();
if (!engine) console.warn("SKIPPED image integration tests: the Docker engine does not answer on DOCKER_HOST / /var/run/docker.sock");

describe.skipIf(!engine)("pullImage from docker-registry on 127.0.0.1", () => {
  const cleanup = new Cleanup();
  let work: { path: string; remove(): Promise<void> };
  let registry: LocalRegistry | undefined;
  let front: Awaited<ReturnType<typeof startTokenFront>> | undefined;
  let digest: string;
  let outDir: string;

  beforeAll(async () => {
    work = await tempDir("ndt-pulltest-");
    outDir = join(work.path, "out");
    registry = await startRegistry(work.path);
    front = await startTokenFront(registry.host);
    const rootfs = await busyboxRootfs(join(work.path, "rootfs"));
    const archive = join(work.path, "src.tar");
    await buildLayeredImage({ name: "ndt/pulled", tag: "src", contents: [rootfs], config: { Cmd: ["/bin/echo", "pulled and running"] }, out: archive });
    const digestFile = join(work.path, "digest");
    await run("skopeo", ["copy", "--quiet", "--dest-tls-verify=false", "--digestfile", digestFile, `docker-archive:${archive}`, `docker://${registry.host}/ndt/pulled:v1`]);
    digest = (await readFile(digestFile, "utf8")).trim();
  });
  afterAll(async () => {
    await cleanup.run();
    await front?.stop();
    await registry?.stop();
    await work?.remove();
  });

  it("pulls by digest (answering a bearer challenge), prints the hash, and the archive loads and runs", async () => {
    const printed: string[] = [];
    const out = join(outDir, "pulled.tar");
    const r = await pullImage({ imageName: `${front!.host}/ndt/pulled`, imageDigest: digest, finalImageName: "ndt-test/pulled", finalImageTag: "p1", tlsVerify: false, out, log: (t) => printed.push(t) });
    expect(front!.tokensIssued()).toBeGreaterThan(0);
    expect(printed.join("")).toContain(`imageDigest = "${digest}";`);
    expect(printed.join("")).toMatch(/hash = "sha256-[A-Za-z0-9+/]{43}=";/);
    const { stdout } = await run("sha256sum", [out]);
    expect(r.sha256).toBe(`sha256:${stdout.split(" ")[0]}`);
    cleanup.images.add("ndt-test/pulled:p1");
    expect(await loadArchive(out)).toContain("ndt-test/pulled:p1");
    expect((await docker.getImage("ndt-test/pulled:p1").inspect()).Id).toBe(r.imageId);
    expect((await runIn("ndt-test/pulled:p1", undefined, cleanup)).output).toContain("pulled and running");

    // pinned: the same pull with the printed sha256 succeeds and is identical
    const again = await pullImage({ imageName: `${registry!.host}/ndt/pulled`, imageDigest: digest, sha256: r.sha256, finalImageName: "ndt-test/pulled", finalImageTag: "p1", tlsVerify: false, out: join(outDir, "again.tar") });
    expect(again.sha256).toBe(r.sha256);
  });

  it("fails cleanly on a wrong digest or a wrong sha256, writing nothing", async () => {
    const before = await readdir(outDir).catch(() => []);
    const tempsBefore = (await readdir(tmpdir())).filter((n) => n.startsWith("ndt-pull-"));
    const wrongDigest = `sha256:${"0".repeat(64)}`;
    await expect(pullImage({ imageName: `${registry!.host}/ndt/pulled`, imageDigest: wrongDigest, tlsVerify: false, out: join(outDir, "bad1.tar") }))
      .rejects.toThrow(/HTTP 404|manifest/);
    await expect(pullImage({ imageName: `${registry!.host}/ndt/pulled`, imageDigest: digest, sha256: "1".repeat(64), tlsVerify: false, out: join(outDir, "bad2.tar") }))
      .rejects.toThrow(/sha256 mismatch .* expected sha256:1{64}, got sha256:[0-9a-f]{64}/);
    await expect(pullImage({ imageName: `${registry!.host}/ndt/pulled`, imageDigest: "latest", tlsVerify: false, out: join(outDir, "bad3.tar") }))
      .rejects.toThrow(/imageDigest must be sha256/);
    expect(await readdir(outDir).catch(() => [])).toEqual(before);
    expect((await readdir(tmpdir())).filter((n) => n.startsWith("ndt-pull-"))).toEqual(tempsBefore);
  });
});

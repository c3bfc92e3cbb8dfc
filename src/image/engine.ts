// The few engine calls the image toolkit needs (load, save, remove), with
// every line of the daemon's response checked for errors.
import Docker from "../engine/dockerode.js";
import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { openEngine } from "../engine/connect.js";
import { OpError } from "../errors.js";

export type Engine = Docker;

/** The engine the runner would use (DOCKER_HOST, the Docker context, then the usual sockets). */
export function defaultEngine(): Engine {
  return openEngine().docker;
}

const LOAD_HINT = "The engine could not load the archive: check that it is a docker-archive (`tar tf FILE` lists manifest.json) and that the engine has free space.";

/** Load a docker-archive stream; returns the loaded references, throws on error lines. */
export async function loadImageStream(docker: Engine, archive: AsyncIterable<Buffer>): Promise<string[]> {
  const src = Readable.from(archive);
  let srcError: unknown;
  src.on("error", (err) => {
    srcError = err;
  });
  const res = (await docker.loadImage(src, { quiet: true })) as NodeJS.ReadableStream;
  let body = "";
  for await (const chunk of res) body += chunk.toString();
  if (srcError) throw srcError;
  const loaded: string[] = [];
  for (const line of body.split(/\r?\n/).filter((l) => l.trim() !== "")) {
    let msg: { stream?: string; error?: string; errorDetail?: { message?: string } };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      throw new OpError("engine_answer", `docker load: unexpected response: ${line}`, "The engine answered something unexpected: check its version (`docker version`).");
    }
    if (msg.error || msg.errorDetail) throw new OpError("image_load", `docker load: ${msg.error ?? msg.errorDetail?.message}`, LOAD_HINT);
    const m = /Loaded image(?: ID)?: (\S+)/.exec(msg.stream ?? "");
    if (m) loaded.push(m[1]!);
  }
  if (loaded.length === 0) throw new OpError("image_load", `docker load reported no image: ${body.trim()}`, LOAD_HINT);
  return loaded;
}

/** `docker save` of one image into a file. */
export async function saveImage(docker: Engine, ref: string, file: string): Promise<void> {
  const stream = (await docker.getImage(ref).get()) as NodeJS.ReadableStream;
  await pipeline(stream, createWriteStream(file));
}

export async function removeImageQuietly(docker: Engine, ref: string): Promise<void> {
  await docker.getImage(ref).remove({ force: true, noprune: false }).catch((err: { statusCode?: number }) => {
    if (err.statusCode !== 404) throw err;
  });
}

/** Load a docker-archive file (plain or gzipped) into the engine; returns the loaded references. */
export async function loadImageArchive(file: string, opts: { docker?: Engine } = {}): Promise<string[]> {
  return loadImageStream(opts.docker ?? defaultEngine(), createReadStream(file) as AsyncIterable<Buffer>);
}

// Images in the engine: look up, pull through the engine (with progress),
// build from a context directory, load a docker-archive (every line of the
// daemon's answer checked), save, remove. All over the Engine API; the
// registry client that pulls without the engine is image/pull.ts.
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import { openEngine, type Engine } from './connect.js';
import { engineMessage, isNotFound, statusOf } from './errors.js';
import { readJsonLines, StreamError, type ProgressLine } from './json-stream.js';
import { engineUpload } from './upload-body.js';
import { OpError } from '../errors.js';

/** A client for one engine (the image toolkit's `Engine`). */
export type DockerClient = Docker;

/** The engine the runner would use (DOCKER_HOST, the Docker context, then the usual sockets). */
export function defaultDockerClient(): DockerClient {
  return openEngine().docker;
}

export interface ImageSummary {
  id: string;
  repoDigests: string[];
  user: string;
  entrypoint: string[];
  workingDir: string;
}

export async function inspectImage(engine: Engine, ref: string): Promise<ImageSummary | null> {
  try {
    const info = (await engine.docker.getImage(ref).inspect()) as {
      Id: string;
      RepoDigests?: string[];
      Config?: { User?: string; Entrypoint?: string[] | string | null; WorkingDir?: string };
    };
    const ep = info.Config?.Entrypoint;
    return {
      id: info.Id,
      repoDigests: info.RepoDigests ?? [],
      user: info.Config?.User ?? '',
      entrypoint: Array.isArray(ep) ? ep : typeof ep === 'string' && ep ? ['/bin/sh', '-c', ep] : [],
      workingDir: info.Config?.WorkingDir ?? '',
    };
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

export interface PullProgress {
  layer: string;
  status: string;
  current?: number | undefined;
  total?: number | undefined;
}

/**
 * `docker pull` by the engine itself; rejects with the daemon's message when
 * the pull fails (including error lines). Not to be confused with the image
 * toolkit's pullImage, a registry client that writes a docker-archive.
 */
export async function pullImageThroughEngine(
  engine: Engine,
  ref: string,
  onProgress: (p: PullProgress) => void,
  signal?: AbortSignal,
): Promise<void> {
  signal?.throwIfAborted();
  let stream: Readable;
  try {
    // An abort closes the request (the engine then stops the pull), also before the engine's first line.
    stream = (await engine.docker.pull(ref, signal ? { abortSignal: signal } : {})) as Readable;
  } catch (err) {
    signal?.throwIfAborted();
    throw new OpError('image_pull', engineMessage(err), `Check the image name and your network (\`docker pull ${ref}\` shows the same).`);
  }
  await untilAborted(stream, signal, () =>
    readJsonLines(stream, (line: ProgressLine) => {
      if (line.status) {
        onProgress({
          layer: line.id ?? '',
          status: line.status,
          current: line.progressDetail?.current,
          total: line.progressDetail?.total,
        });
      }
    }),
  );
}

/** Runs `read` over the engine's `stream`; an abort meanwhile destroys the stream and rejects with the abort's reason. */
async function untilAborted(stream: Readable, signal: AbortSignal | undefined, read: () => Promise<void>): Promise<void> {
  if (!signal) return read();
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await read();
  } catch (err) {
    signal.throwIfAborted();
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  signal.throwIfAborted();
}

/** Builds an image from a tar stream of the context; build output goes to onOutput. */
export async function buildImageFromContext(
  engine: Engine,
  context: Readable,
  opts: { tag: string; dockerfile: string; labels?: Record<string, string>; signal?: AbortSignal },
  onOutput: (text: string) => void,
): Promise<void> {
  const { signal } = opts;
  signal?.throwIfAborted();
  let stream: Readable;
  try {
    // Bounded: a link that dies during the context's upload fails the build instead of waiting for the kernel.
    stream = (await engine.docker.buildImage(engineUpload(context) as unknown as NodeJS.ReadableStream, {
      t: opts.tag,
      dockerfile: opts.dockerfile,
      labels: opts.labels,
      rm: true,
      forcerm: true,
      ...(signal ? { abortSignal: signal } : {}),
    })) as Readable;
  } catch (err) {
    signal?.throwIfAborted();
    throw new OpError('image_build', engineMessage(err), `Check the Dockerfile ${opts.dockerfile} and its context.`);
  }
  await untilAborted(stream, signal, () =>
    readJsonLines(stream, (line) => {
      if (line.stream) onOutput(line.stream);
      else if (line.status) onOutput(`${line.id ? line.id + ': ' : ''}${line.status}\n`);
      if (line.error) onOutput(`ERROR: ${line.error}\n`);
    }),
  );
}

const LOAD_HINT =
  'The engine could not load the archive: check that it is a docker-archive (`tar tf FILE` lists manifest.json) and that the engine has free space.';
/** The request got no HTTP answer: the engine is not there, or the connection broke; the archive is not the question. */
const NO_ANSWER_HINT =
  'The engine did not answer, or the connection broke: check that it runs (`docker version`) and that DOCKER_HOST or the Docker context names it, then load again.';

/**
 * `docker load` of a docker-archive stream (tar, optionally gzipped); returns
 * the references the engine reported. Rejects ("docker load: ...") on a
 * failed request, an error or unexpected line, or when no image was reported;
 * an error of the archive stream itself is passed on as it is.
 */
export async function loadImageStream(docker: DockerClient, archive: AsyncIterable<Buffer>): Promise<string[]> {
  // An UploadBody (streamLayeredImage's) goes to the request as it is; any
  // other stream is sent through one. Both with the stall bound: a link that
  // dies mid-upload fails the load in a minute instead of waiting for the
  // kernel's retransmissions (~15 minutes).
  const src = engineUpload(archive);
  let srcError: unknown;
  src.on('error', (err) => {
    srcError = err;
  });
  let res: Readable;
  try {
    res = (await docker.loadImage(src, { quiet: true })) as Readable;
  } catch (err) {
    // What produces the archive (open files, a scratch directory) is closed, read or not.
    src.destroy();
    throw (
      srcError ?? new OpError('image_load', `docker load: ${engineMessage(err)}`, statusOf(err) === undefined ? NO_ANSWER_HINT : LOAD_HINT)
    );
  }
  const loaded: string[] = [];
  const lines: string[] = [];
  try {
    await readJsonLines(
      res,
      (line) => {
        lines.push(JSON.stringify(line));
        const m = /Loaded image(?: ID)?: (\S+)/.exec(line.stream ?? '');
        if (m?.[1]) loaded.push(m[1]);
      },
      { strict: true },
    );
  } catch (err) {
    if (srcError) throw srcError;
    if (err instanceof StreamError) throw new OpError('image_load', `docker load: ${err.message}`, LOAD_HINT);
    throw err;
  }
  if (srcError) throw srcError;
  if (loaded.length === 0) throw new OpError('image_load', `docker load reported no image: ${lines.join('\n')}`, LOAD_HINT);
  return loaded;
}

/**
 * Pieces of an archive file sent to the engine: each is one HTTP chunk and
 * one socket write. createReadStream's default (64 KiB) made the upload of a
 * 171 MB image 0.1 to 0.3 s slower (bench/README.md, the image stream).
 */
const UPLOAD_PIECE = 1 << 20;

/** `docker load` of a docker-archive file (plain or gzipped); returns the loaded references. */
export async function loadImageArchive(file: string, opts: { docker?: DockerClient } = {}): Promise<string[]> {
  return loadImageStream(opts.docker ?? defaultDockerClient(), createReadStream(file, { highWaterMark: UPLOAD_PIECE }));
}

/** `docker save` of one image into a file; `signal` cuts it (the file is left for the caller's cleanup). */
export async function saveImage(docker: DockerClient, ref: string, file: string, signal?: AbortSignal): Promise<void> {
  const stream = (await docker.getImage(ref).get()) as NodeJS.ReadableStream;
  await pipeline(stream, createWriteStream(file), ...(signal ? [{ signal }] : []));
}

/** Removes an image (forced); one that is already gone is no error. */
export async function removeImageQuietly(docker: DockerClient, ref: string): Promise<void> {
  await docker
    .getImage(ref)
    .remove({ force: true, noprune: false })
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
}

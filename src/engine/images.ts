// Images: look up, pull (with progress, digest-verified when pinned), build
// from a context directory, load an archive. All over the Engine API.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Engine } from './connect.js';
import { engineMessage, isNotFound } from './errors.js';
import { readJsonLines, type ProgressLine } from './json-stream.js';
import { OpError } from '../errors.js';

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

/** Pulls an image; rejects with the daemon's message when the pull fails (including error lines). */
export async function pullImage(engine: Engine, ref: string, onProgress: (p: PullProgress) => void): Promise<void> {
  let stream: Readable;
  try {
    stream = (await engine.docker.pull(ref)) as Readable;
  } catch (err) {
    throw new OpError('image_pull', engineMessage(err), `Check the image name and your network (\`docker pull ${ref}\` shows the same).`);
  }
  await readJsonLines(stream, (line: ProgressLine) => {
    if (line.status) {
      onProgress({
        layer: line.id ?? '',
        status: line.status,
        current: line.progressDetail?.current,
        total: line.progressDetail?.total,
      });
    }
  });
}

/** Builds an image from a tar stream of the context; build output goes to onOutput. */
export async function buildImageFromContext(
  engine: Engine,
  context: Readable,
  opts: { tag: string; dockerfile: string; labels?: Record<string, string> },
  onOutput: (text: string) => void,
): Promise<void> {
  let stream: Readable;
  try {
    stream = (await engine.docker.buildImage(context, {
      t: opts.tag,
      dockerfile: opts.dockerfile,
      labels: opts.labels,
      rm: true,
      forcerm: true,
    })) as Readable;
  } catch (err) {
    throw new OpError('image_build', engineMessage(err), `Check the Dockerfile ${opts.dockerfile} and its context.`);
  }
  await readJsonLines(stream, (line) => {
    if (line.stream) onOutput(line.stream);
    else if (line.status) onOutput(`${line.id ? line.id + ': ' : ''}${line.status}\n`);
    if (line.error) onOutput(`ERROR: ${line.error}\n`);
  });
}

/** Loads a docker-archive (tar, optionally gzip) and returns the image names it reported. */
export async function loadImageArchive(engine: Engine, path: string): Promise<string[]> {
  let stream: Readable;
  try {
    stream = (await engine.docker.loadImage(createReadStream(path), { quiet: true })) as Readable;
  } catch (err) {
    throw new OpError('image_load', engineMessage(err), `Check that ${path} is a docker-archive (\`docker load -i ${path}\` shows the same).`);
  }
  const loaded: string[] = [];
  await readJsonLines(stream, (line) => {
    const m = /Loaded image(?: ID)?: (\S+)/.exec(line.stream ?? '');
    if (m?.[1]) loaded.push(m[1]);
  });
  return loaded;
}

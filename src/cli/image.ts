// `nerves-docker image <subcommand>`: each toolkit function from the command
// line, its options given as --flags (nixpkgs' names in kebab-case), as a
// JSON spec file (--spec file.json), or both (flags win). Results are printed
// as JSON on stdout (on stderr for stream-layered-image, whose stdout is the
// archive, unless --load sends it into the engine).
//
// Each subcommand imports its module when it runs: the builders load the
// engine client (dockerode, with grpc-js, protobufjs and ssh2: about 0.3 s),
// which pull-image, export-image, shadow-setup and build-container never use.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { EXIT, exitCodeFor, jsonFault, OpError, usageError } from '../errors.js';
import type { Engine } from '../engine/connect.js';
import { kebab, shown } from '../image/shown.js';

interface Schema {
  run: (opts: Record<string, unknown>) => Promise<unknown>;
  required: string[];
  /** Options taking one plain string value. */
  strings?: string[];
  arrays?: string[];
  numbers?: string[];
  booleans?: string[];
  json?: string[];
  /** Takes `signal`: SIGINT/SIGTERM/SIGHUP abort it and the command removes what it wrote. */
  cancellable?: boolean;
  /** Array options that also take a JSON list (`--env '["A=1","B=2"]'`). */
  jsonLists?: string[];
  /** build-container: the command after `--`. */
  positionals?: string;
  /** JSON options that must be lists of objects (shadow-setup's users and groups). */
  objectLists?: string[];
  summary: string;
}

const OUTPUT = ['out', 'format', 'compress', 'compressor'];
const OWNER = ['uname', 'gname'];
const BASE = ['fromImage', 'fromImageName', 'fromImageTag'];
const LAYERED_STRINGS = [
  'name',
  'tag',
  'created',
  'extraCommands',
  'fakeRootCommands',
  ...BASE,
  'closureGraphKey',
  'layering',
  'storeDir',
  'architecture',
  'os',
  ...OWNER,
];

const COMMANDS: Record<string, Schema> = {
  'build-image': {
    run: async (o) => (await import('../image/build-image.js')).buildImage(o as never),
    required: ['name', 'out'],
    strings: ['name', 'tag', ...BASE, 'created', 'runAsRoot', 'extraCommands', 'storeDir', 'architecture', 'os', ...OWNER, ...OUTPUT],
    arrays: ['copyToRoot', 'contents', 'runAsRootMounts'],
    numbers: ['uid', 'gid'],
    json: ['config'],
    cancellable: true,
    summary:
      '--name N [--tag T] [--from-image F [--from-image-name N] [--from-image-tag T]] [--copy-to-root DIR]... [--store-dir DIR] [--config JSON] [--created ISO|now] [--extra-commands SH] [--run-as-root SCRIPT] [--run-as-root-mounts DIR]... [--architecture A] [--os O] [--uid N] [--gid N] --out FILE [--format docker-archive|oci|oci-archive] [--compress gzip]',
  },
  'build-layered-image': {
    run: async (o) => (await import('../image/layered.js')).buildLayeredImage(o as never),
    required: ['name', 'out'],
    strings: [...LAYERED_STRINGS, ...OUTPUT],
    arrays: ['contents'],
    numbers: ['maxLayers', 'uid', 'gid'],
    booleans: ['includeStorePaths', 'enableFakechroot'],
    json: ['config', 'closureGraph'],
    cancellable: true,
    summary:
      '--name N [--tag T] [--contents PATH]... [--config JSON] [--created ISO|now] [--max-layers N] [--extra-commands SH] [--fake-root-commands SH] [--from-image F] [--closure-graph FILE] [--layering popularity|auto|size] [--store-dir DIR] [--no-include-store-paths] --out FILE [--format ...] [--compress gzip]',
  },
  'stream-layered-image': {
    run: async ({ load, ...o }) => {
      // The archive is binary, often hundreds of MB: not for a terminal (docker save refuses one too).
      if (load !== true && process.stdout.isTTY) {
        throw usageError(
          'stream-layered-image writes the image archive to stdout, and stdout is a terminal',
          'Send it somewhere: `> image.tar`, `| docker load`, or pass --load to load it into the engine.',
        );
      }
      // With --load, the engine must answer before anything is built (its address and a hint if not).
      let engine: Engine | undefined;
      if (load === true) {
        const { answeringEngine } = await import('../engine/connect.js');
        engine = await answeringEngine();
      }
      const { streamLayeredImage } = await import('../image/layered.js');
      // A signal stops the build, then the stream: the upload fails (the engine keeps nothing), the scratch directory goes.
      const s = await streamLayeredImage(o as never);
      let loaded: string[] | undefined;
      if (engine) loaded = await (await import('../engine/images.js')).loadImageStream(engine.docker, s.stream);
      else await pipeline(s.stream, process.stdout);
      return { imageName: s.imageName, imageTag: s.imageTag, imageId: s.imageId, diffIds: s.diffIds, ...(loaded ? { loaded } : {}) };
    },
    required: ['name'],
    strings: [...LAYERED_STRINGS, 'compress', 'compressor'],
    arrays: ['contents'],
    numbers: ['maxLayers', 'uid', 'gid'],
    booleans: ['includeStorePaths', 'enableFakechroot', 'load'],
    json: ['config', 'closureGraph'],
    cancellable: true,
    summary:
      'same options as build-layered-image, without --out and --format: the docker-archive goes to stdout, or with --load straight into the engine (DOCKER_HOST, the Docker context or the local socket; no docker CLI needed), the result on stdout',
  },
  'pull-image': {
    run: async (o) => (await import('../image/pull.js')).pullImage(o as never),
    required: ['imageName', 'imageDigest', 'out'],
    strings: ['imageName', 'imageDigest', 'sha256', 'finalImageName', 'finalImageTag', 'os', 'arch', 'variant', 'out'],
    booleans: ['tlsVerify'],
    numbers: ['requestTimeout', 'minRate', 'rateWindow'],
    json: ['credentials'],
    cancellable: true,
    summary:
      '--image-name N --image-digest sha256:... [--sha256 H] [--final-image-name N] [--final-image-tag T] [--os linux] [--arch amd64] [--variant V] [--no-tls-verify] [--credentials JSON] [--request-timeout SECONDS] [--min-rate BYTES_PER_S] [--rate-window SECONDS] --out FILE',
  },
  'export-image': {
    run: async (o) => (await import('../image/export-image.js')).exportImage(o as never),
    required: ['fromImage', 'out'],
    strings: [...BASE, 'os', 'architecture', 'out', 'compress', 'created'],
    summary:
      '--from-image ARCHIVE [--from-image-name N] [--from-image-tag T] [--os O] [--architecture A] --out ROOTFS.tar [--compress gzip] [--created ISO]',
  },
  'shadow-setup': {
    run: async (o) => ({ written: await (await import('../image/shadow.js')).shadowSetup(o as never) }),
    required: ['root'],
    strings: ['root'],
    json: ['users', 'groups'],
    objectLists: ['users', 'groups'],
    summary: '--root DIR [--users JSON] [--groups JSON]',
  },
  'build-container': {
    run: async (o) => (await import('../image/container.js')).buildContainer(o as never),
    required: ['args', 'out'],
    strings: ['out', 'os', 'arch', 'cwd', 'hostname', 'storeDir'],
    arrays: ['copyToRoot', 'env'],
    jsonLists: ['env'],
    booleans: ['readonly', 'terminal'],
    numbers: ['uid', 'gid'],
    json: ['mounts'],
    positionals: 'args',
    summary:
      '--out DIR [--readonly] [--terminal] [--mounts JSON] [--copy-to-root DIR]... [--env K=V]... (or --env \'["K=V",...]\') [--cwd DIR] [--hostname H] [--uid N] [--gid N] [--store-dir DIR] -- COMMAND ARGS...',
  },
};

/** The schema of a subcommand; undefined for any other word ("toString" too: COMMANDS is a plain object). */
function schemaOf(cmd: string): Schema | undefined {
  return Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
}

/** The options of a subcommand from a JSON file (--spec). */
async function readOptionsFile(path: string): Promise<Record<string, unknown>> {
  const hint = 'Give --spec a JSON object of the subcommand\'s options (nixpkgs\' names), e.g. {"name": "app", "out": "app.tar"}.';
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new OpError('image_options', `cannot read the options file ${path}: ${(err as Error).message}`, hint);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new OpError('image_options', `the options file ${path} is not JSON (${jsonFault(err, text)})`, hint);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new OpError('image_options', `the options file ${path} must hold a JSON object of options (it holds ${shown(parsed)})`, hint);
  return parsed as Record<string, unknown>;
}

/**
 * The options of a --spec file typed as the flags would give them (a flag's
 * value is a string by construction): a string, a list of strings (or one
 * string), a number, true or false; the command's words after `--` a list.
 */
function checkSpecTypes(schema: Schema, path: string, opts: Record<string, unknown>): void {
  const bad = (key: string, want: string, v: unknown) =>
    new OpError(
      'image_options',
      `the options file ${path}: ${key} must be ${want} (got ${shown(v)})`,
      `Give ${key} in the --spec file as ${want}, or as the flag --${kebab(key)}.`,
    );
  const isStrings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  for (const [key, v] of Object.entries(opts)) {
    if (v === undefined) continue;
    if ((schema.strings ?? []).includes(key) && typeof v !== 'string') throw bad(key, 'a string', v);
    if ((schema.arrays ?? []).includes(key) && typeof v !== 'string' && !isStrings(v)) throw bad(key, 'a list of strings', v);
    if ((schema.numbers ?? []).includes(key) && typeof v !== 'number') throw bad(key, 'a number', v);
    if ((schema.booleans ?? []).includes(key) && typeof v !== 'boolean') throw bad(key, 'true or false', v);
    if (schema.positionals === key && !isStrings(v)) throw bad(key, 'a list of strings (the command and its arguments)', v);
  }
}

/** shadow-setup's users and groups: lists of objects ({"name": ..., "uid": ...}), from a flag or the spec file. */
function checkObjectLists(schema: Schema, opts: Record<string, unknown>): void {
  for (const key of schema.objectLists ?? []) {
    const v = opts[key];
    if (v === undefined || (Array.isArray(v) && v.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x)))) continue;
    throw new OpError(
      'image_options',
      `${key} must be a JSON list of objects (got ${shown(v)})`,
      `Give --${kebab(key)} a list, one object per ${key === 'users' ? 'user' : 'group'}: ${key === 'users' ? '[{"name": "bob", "uid": 1000}]' : '[{"name": "staff", "gid": 50}]'}.`,
    );
  }
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** Every option name a subcommand knows (nixpkgs' camelCase names). */
function knownOptions(schema: Schema): string[] {
  const { strings = [], arrays = [], numbers = [], booleans = [], json = [] } = schema;
  return [...new Set([...strings, ...arrays, ...numbers, ...booleans, ...json])].sort();
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function unknownOption(cmd: string, schema: Schema, flag: string, where: 'flag' | 'key'): OpError {
  const known = knownOptions(schema);
  const show = (k: string) => (where === 'flag' ? `--${kebab(k)}` : k);
  const near = known.filter((k) => distance(k.toLowerCase(), camel(flag).toLowerCase()) <= 2).map(show);
  const what = where === 'flag' ? `unknown flag --${flag}` : `unknown option "${flag}" in the --spec file`;
  return usageError(
    `${what} for ${cmd}${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}; known: ${known.map(show).join(', ')}${where === 'flag' ? ', --spec' : ''}`,
  );
}

/** The parseArgs option table of a subcommand (kebab-case flags; --no-X for each boolean X). */
function argTable(schema: Schema): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const table: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { spec: { type: 'string', multiple: true } };
  for (const k of knownOptions(schema)) table[kebab(k)] = { type: 'string', multiple: true };
  for (const k of schema.booleans ?? []) {
    table[kebab(k)] = { type: 'boolean' };
    table[`no-${kebab(k)}`] = { type: 'boolean' };
  }
  return table;
}

/** One flag's value, typed by the schema. */
function typedValue(schema: Schema, key: string, value: string): unknown {
  if ((schema.numbers ?? []).includes(key)) {
    // Decimal only: Number() also reads "0x10" and "1e2".
    const n = /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
    if (!Number.isFinite(n)) throw usageError(`--${kebab(key)} needs a number (got "${value}")`);
    return n;
  }
  if ((schema.json ?? []).includes(key) && /^\s*[[{]/.test(value)) {
    try {
      return JSON.parse(value);
    } catch {
      throw usageError(`--${kebab(key)}: not valid JSON`);
    }
  }
  return value;
}

/** A JSON list of strings given to a list flag (`--env '["A=1"]'`), else the value itself. */
function listValues(value: string): string[] {
  if (!/^\s*\[/.test(value)) return [value];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return [value];
  }
  return Array.isArray(parsed) && parsed.every((v) => typeof v === 'string') ? parsed : [value];
}

function parseFlags(cmd: string, schema: Schema, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: argTable(schema), strict: true, allowPositionals: schema.positionals !== undefined });
  } catch (err) {
    const m = /^Unknown option '--?([^']+)'/.exec((err as Error).message);
    if (m) throw unknownOption(cmd, schema, m[1]!, 'flag');
    throw usageError((err as Error).message.split('. To specify')[0]!);
  }
}

/** Parse flags for a subcommand into an options object (spec file first, flags over it). */
export async function parseImageArgs(cmd: string, argv: string[]): Promise<Record<string, unknown>> {
  const schema = schemaOf(cmd);
  if (!schema) throw usageError(`unknown image subcommand "${cmd}"; known: ${Object.keys(COMMANDS).join(', ')}`);
  const { values, positionals } = parseFlags(cmd, schema, argv);
  // As every flag given twice (below): --spec twice kept the last without a word.
  const specs = values.spec as string[] | undefined;
  if (specs && specs.length > 1) throw usageError(`--spec given ${specs.length} times; it takes one options file`);
  const specFile = specs?.[0];
  const known = new Set(knownOptions(schema));
  const opts = specFile !== undefined ? await readOptionsFile(specFile) : {};
  for (const k of Object.keys(opts)) if (!known.has(k) && !(schema.positionals === k)) throw unknownOption(cmd, schema, k, 'key');
  checkSpecTypes(schema, specFile as string, opts);
  const fromFlags: Record<string, unknown> = {};
  const arrays = new Set(schema.arrays ?? []);
  const jsonLists = new Set(schema.jsonLists ?? []);
  for (const [flag, raw] of Object.entries(values)) {
    if (flag === 'spec') continue;
    const key = camel(flag);
    if (typeof raw === 'boolean') {
      if (flag.startsWith('no-')) fromFlags[camel(flag.slice(3))] = !raw;
      else fromFlags[key] = raw;
      continue;
    }
    const list = raw as string[];
    if (arrays.has(key)) fromFlags[key] = list.flatMap((v) => (jsonLists.has(key) ? listValues(v) : [typedValue(schema, key, v)]));
    else if (list.length > 1) throw usageError(`--${flag} given ${list.length} times; it takes one value`);
    else fromFlags[key] = typedValue(schema, key, list[0]!);
  }
  if (schema.positionals && positionals.length > 0) fromFlags[schema.positionals] = positionals;
  const merged = { ...opts, ...fromFlags };
  const missing = schema.required.filter((k) => merged[k] === undefined);
  if (missing.length > 0) {
    const named = missing.map((k) =>
      k === schema.positionals ? 'the command to run (after --, e.g. -- /bin/sh -c "echo hi")' : `--${kebab(k)}`,
    );
    throw usageError(`missing ${named.join(', ')}`);
  }
  checkObjectLists(schema, merged);
  return merged;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs a command that takes `signal`: a signal aborts it (instead of ending
 * the process at once), so that it removes its containers, temporary images,
 * temporary files and partial output before the CLI says, in one line, that
 * nothing was kept and exits with 130 (SIGTERM and SIGHUP too, as every
 * nerves-docker command). Signals that come during that cleanup are ignored.
 */
async function runCancellable(schema: Schema, opts: Record<string, unknown>): Promise<unknown> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (!controller.signal.aborted) controller.abort(new OpError('interrupted', `interrupted (${sig}); nothing was kept`));
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    return await schema.run({ ...opts, signal: controller.signal });
  } catch (err) {
    // Whatever the stop broke on the way (a cut upload, a killed script), the interrupt is what happened.
    throw controller.signal.aborted ? controller.signal.reason : err;
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}

export function imageUsage(): string {
  const lines = ['usage: nerves-docker image <subcommand> [--spec options.json] [--flags]', ''];
  for (const [name, s] of Object.entries(COMMANDS)) lines.push(`  ${name} ${s.summary}`);
  lines.push(
    '',
    `Output flags where relevant: ${OUTPUT.map((o) => `--${o}`).join(', ')}. JSON values may be given inline or in the spec file.`,
    '',
    'exit codes: 0 done; 1 failed; 64 usage; 65 invalid input (options, inputs, base image, existing output);',
    '69 engine unavailable or too old; 130 interrupted.',
  );
  return lines.join('\n') + '\n';
}

function commandUsage(cmd: string): string {
  const s = schemaOf(cmd);
  return s ? `usage: nerves-docker image ${cmd} ${s.summary}\n` : imageUsage();
}

export async function runImageCommand(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // Usage asked for goes to stdout (exit 0); usage after a mistake to stderr (64), as errors do.
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd ? process.stdout : process.stderr).write(imageUsage());
    return cmd ? EXIT.ok : EXIT.usage;
  }
  try {
    const flags = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
    if (flags.includes('--help') || flags.includes('-h')) {
      const known = schemaOf(cmd) !== undefined;
      (known ? process.stdout : process.stderr).write(commandUsage(cmd));
      return known ? EXIT.ok : EXIT.usage;
    }
    const opts = await parseImageArgs(cmd, rest);
    const schema = schemaOf(cmd)!; // parseImageArgs refused any other word
    const result = schema.cancellable ? await runCancellable(schema, opts) : await schema.run(opts);
    const text = JSON.stringify(result, (k, v: unknown) => (k === 'config' && cmd === 'build-container' ? undefined : v), 2) + '\n';
    (cmd === 'stream-layered-image' && opts.load !== true ? process.stderr : process.stdout).write(text);
    return EXIT.ok;
  } catch (err) {
    // The exit code of the error's family, as for every nerves-docker command (errors.ts): 64 usage, 65 invalid
    // input (image options, inputs, base images, an existing output), 69 engine unavailable, 130 interrupted,
    // 1 any other failure (an error that is not an OpError included).
    if (err instanceof OpError && err.code === 'usage') {
      process.stderr.write(`nerves-docker image ${cmd}: ${err.message}\n${err.hint ? `${err.hint}\n` : ''}${commandUsage(cmd)}`);
      return EXIT.usage;
    }
    const hint = err instanceof OpError && err.hint ? `\n${err.hint}` : '';
    process.stderr.write(`nerves-docker image ${cmd}: ${(err as Error).message}${hint}\n`);
    return err instanceof OpError ? exitCodeFor(err.code) : EXIT.failed;
  }
}

// `nerves-docker image <subcommand>`: each toolkit function from the command
// line, its options given as --flags (nixpkgs' names in kebab-case), as a
// JSON spec file (--spec file.json), or both (flags win). Results are printed
// as JSON on stdout (on stderr for stream-layered-image, whose stdout is the
// archive).
//
// Each subcommand imports its module when it runs: the builders load the
// engine client (dockerode, with grpc-js, protobufjs and ssh2: about 0.3 s),
// which pull-image, export-image, shadow-setup and build-container never use.
import { readFile } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { EXIT, OpError, usageError } from "../errors.js";

interface Schema {
  run: (opts: Record<string, unknown>) => Promise<unknown>;
  required: string[];
  arrays?: string[];
  numbers?: string[];
  booleans?: string[];
  json?: string[];
  /** Takes `signal`: SIGINT/SIGTERM/SIGHUP abort it and the command removes what it wrote. */
  cancellable?: boolean;
  summary: string;
}

const OUTPUT = ["out", "format", "compress"];

const COMMANDS: Record<string, Schema> = {
  "build-image": {
    run: async (o) => (await import("../image/build-image.js")).buildImage(o as never),
    required: ["name", "out"],
    arrays: ["copyToRoot", "contents", "runAsRootMounts"],
    numbers: ["uid", "gid"],
    json: ["config"],
    summary: "--name N [--tag T] [--from-image F] [--copy-to-root DIR]... [--config JSON] [--created ISO|now] [--run-as-root SCRIPT] --out FILE [--format docker-archive|oci|oci-archive] [--compress gzip]",
  },
  "build-layered-image": {
    run: async (o) => (await import("../image/layered.js")).buildLayeredImage(o as never),
    required: ["name", "out"],
    arrays: ["contents"],
    numbers: ["maxLayers", "uid", "gid"],
    json: ["config", "closureGraph"],
    summary: "--name N [--tag T] [--contents PATH]... [--config JSON] [--max-layers N] [--extra-commands SH] [--fake-root-commands SH] [--from-image F] [--closure-graph FILE] [--layering popularity|auto|size] --out FILE [--format ...] [--compress gzip]",
  },
  "stream-layered-image": {
    run: async (o) => {
      const { streamLayeredImage } = await import("../image/layered.js");
      const s = await streamLayeredImage(o as never);
      await pipeline(s.stream, process.stdout);
      return { imageName: s.imageName, imageTag: s.imageTag, imageId: s.imageId, diffIds: s.diffIds };
    },
    required: ["name"],
    arrays: ["contents"],
    numbers: ["maxLayers", "uid", "gid"],
    json: ["config", "closureGraph"],
    summary: "same options as build-layered-image, without --out: the docker-archive goes to stdout",
  },
  "pull-image": {
    run: async (o) => (await import("../image/pull.js")).pullImage(o as never),
    required: ["imageName", "imageDigest", "out"],
    booleans: ["tlsVerify"],
    numbers: ["requestTimeout", "minRate", "rateWindow"],
    json: ["credentials"],
    cancellable: true,
    summary: "--image-name N --image-digest sha256:... [--sha256 H] [--final-image-name N] [--final-image-tag T] [--os linux] [--arch amd64] [--no-tls-verify] [--request-timeout SECONDS] [--min-rate BYTES_PER_S] [--rate-window SECONDS] --out FILE",
  },
  "export-image": {
    run: async (o) => (await import("../image/export-image.js")).exportImage(o as never),
    required: ["fromImage", "out"],
    summary: "--from-image ARCHIVE --out ROOTFS.tar [--compress gzip] [--created ISO]",
  },
  "shadow-setup": {
    run: async (o) => ({ written: await (await import("../image/shadow.js")).shadowSetup(o as never) }),
    required: ["root"],
    json: ["users", "groups"],
    summary: "--root DIR [--users JSON] [--groups JSON]",
  },
  "build-container": {
    run: async (o) => (await import("../image/container.js")).buildContainer(o as never),
    required: ["args", "out"],
    arrays: ["args", "copyToRoot", "env"],
    booleans: ["readonly", "terminal"],
    numbers: ["uid", "gid"],
    json: ["mounts"],
    summary: "--out DIR [--readonly] [--mounts JSON] [--copy-to-root DIR]... -- COMMAND ARGS...",
  },
};

/** The options of a subcommand from a JSON file (--spec). */
async function readOptionsFile(path: string): Promise<Record<string, unknown>> {
  const hint = "Give --spec a JSON object of the subcommand's options (nixpkgs' names), e.g. {\"name\": \"app\", \"out\": \"app.tar\"}.";
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new OpError("image_options", `cannot read the options file ${path}: ${(err as Error).message}`, hint);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new OpError("image_options", `the options file ${path} is not JSON: ${(err as Error).message}`, hint);
  }
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** Parse flags for a subcommand into an options object (spec file first, flags over it). */
export async function parseImageArgs(cmd: string, argv: string[]): Promise<Record<string, unknown>> {
  const schema = COMMANDS[cmd];
  if (!schema) throw usageError(`unknown image subcommand "${cmd}"`);
  let opts: Record<string, unknown> = {};
  const fromFlags: Record<string, unknown> = {};
  const arrays = new Set(schema.arrays ?? []);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      fromFlags.args = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith("--")) throw usageError(`unexpected argument "${arg}"`);
    const [flag, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let value = inline;
    const key = camel(flag);
    if (key.startsWith("no") && (schema.booleans ?? []).includes(key[2]!.toLowerCase() + key.slice(3))) {
      fromFlags[key[2]!.toLowerCase() + key.slice(3)] = false;
      continue;
    }
    if ((schema.booleans ?? []).includes(key) && value === undefined && (argv[i + 1] === undefined || argv[i + 1]!.startsWith("--"))) {
      fromFlags[key] = true;
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw usageError(`--${flag} needs a value`);
    }
    if (key === "spec") {
      opts = await readOptionsFile(value);
      continue;
    }
    let parsed: unknown = value;
    if ((schema.numbers ?? []).includes(key)) {
      parsed = Number(value);
      if (!Number.isFinite(parsed)) throw usageError(`--${flag} needs a number`);
    } else if ((schema.booleans ?? []).includes(key)) {
      parsed = !/^(false|0|no)$/i.test(value);
    } else if ((schema.json ?? []).includes(key) && /^\s*[[{]/.test(value)) {
      try {
        parsed = JSON.parse(value);
      } catch {
        throw usageError(`--${flag}: not valid JSON`);
      }
    }
    if (arrays.has(key)) fromFlags[key] = [...((fromFlags[key] as unknown[] | undefined) ?? []), parsed];
    else fromFlags[key] = parsed;
  }
  const merged = { ...opts, ...fromFlags };
  const missing = schema.required.filter((k) => merged[k] === undefined);
  if (missing.length > 0) throw usageError(`missing ${missing.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ")}`);
  return merged;
}

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Runs a command that takes `signal`: a signal aborts it (instead of ending
 * the process at once), so that it removes its temporary files and partial
 * output before the CLI exits with 130.
 */
async function runCancellable(schema: Schema, opts: Record<string, unknown>): Promise<unknown> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (!controller.signal.aborted) controller.abort(new OpError("interrupted", `interrupted (${sig}); nothing was kept`, "Run the command again."));
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    return await schema.run({ ...opts, signal: controller.signal });
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}

export function imageUsage(): string {
  const lines = ["usage: nerves-docker image <subcommand> [--spec options.json] [--flags]", ""];
  for (const [name, s] of Object.entries(COMMANDS)) lines.push(`  ${name} ${s.summary}`);
  lines.push("", `Output flags where relevant: ${OUTPUT.map((o) => `--${o}`).join(", ")}. JSON values may be given inline or in the spec file.`);
  return lines.join("\n") + "\n";
}

export async function runImageCommand(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    process.stdout.write(imageUsage());
    return cmd ? 0 : 2;
  }
  try {
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(`usage: nerves-docker image ${cmd} ${COMMANDS[cmd]?.summary ?? ""}\n`);
      return COMMANDS[cmd] ? 0 : 2;
    }
    const opts = await parseImageArgs(cmd, rest);
    const result = COMMANDS[cmd]!.cancellable ? await runCancellable(COMMANDS[cmd]!, opts) : await COMMANDS[cmd]!.run(opts);
    const text = JSON.stringify(result, (k, v: unknown) => (k === "config" && cmd === "build-container" ? undefined : v), 2) + "\n";
    (cmd === "stream-layered-image" ? process.stderr : process.stdout).write(text);
    return 0;
  } catch (err) {
    // The toolkit's own exit codes: 2 for usage, 130 when interrupted, 1 for every other failure.
    if (err instanceof OpError && err.code === "usage") {
      process.stderr.write(`nerves-docker image ${cmd}: ${err.message}\n${imageUsage()}`);
      return 2;
    }
    const hint = err instanceof OpError && err.hint ? `\n${err.hint}` : "";
    process.stderr.write(`nerves-docker image ${cmd}: ${(err as Error).message}${hint}\n`);
    return err instanceof OpError && err.code === "interrupted" ? EXIT.interrupted : 1;
  }
}

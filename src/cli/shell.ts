// `nerves-docker shell [--spec FILE.json] [--tty PATH] [-- CMD...]`: the
// system shell without Mix. Runs the shell op in this process with the CLI's
// context: messages on stderr, a one-off command's output on stdout/stderr,
// prompts answered on the terminal (or by NERVES_DOCKER_TS_YES=1).
import { parseArgs } from 'node:util';
import { toErrorInfo } from '../sidecar/server.js';
import { usageError } from '../errors.js';
import { cliContext, EXIT, exitCodeFor, readSpecFile } from './context.js';
import { parseShellOptions, runShell } from '../runner/shell/shell.js';
import { parseJobSpec } from '../runner/spec.js';

export const SHELL_USAGE = `usage: nerves-docker shell [--spec FILE.json] [--tty PATH] [-- CMD [ARGS...]]

Opens an interactive bash in the package's build container (as mix
nerves.system.shell): same image, mounts and environment as a build, the
build directory prepared with create-build.sh first. The container is
removed when the shell ends; the exit status is the shell's.

  --spec FILE   the job spec (JSON, see docs/job-spec.md); default
                $NERVES_DOCKER_SPEC
  --tty PATH    the terminal to attach (default /dev/tty)
  -- CMD...     run this one command instead of the shell; without a
                terminal its output goes to stdout/stderr

Environment: NERVES_DOCKER_TS_YES=1 answers "create the image?" with yes.
exit codes: the shell's status; 64 usage; 65 invalid input; 69 engine
unavailable; 1 other failures; 130 interrupted.`;

const options = {
  spec: { type: 'string' },
  tty: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ShellArgs {
  spec: string | null;
  tty: string | null;
  /** The words after `--`, or null without `--`. */
  cmd: string[] | null;
  help: boolean;
}

/** Parses the shell command's argv; throws a usage OpError. */
export function parseShellArgs(argv: string[]): ShellArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const { values, tokens } = parsed;
  const end = tokens.findIndex((t) => t.kind === 'option-terminator');
  const stray = tokens.find((t, i) => t.kind === 'positional' && (end < 0 || i < end));
  if (stray?.kind === 'positional') throw usageError(`unknown argument "${stray.value}"`);
  const cmd = end < 0 ? null : argv.slice(tokens[end]!.index + 1);
  if (cmd?.length === 0) throw usageError('nothing after --');
  // Checked here, in the flag's own words (the op would call it the request's tty_path, an invalid spec).
  if (values.tty !== undefined && !values.tty.startsWith('/'))
    throw usageError(`--tty needs the absolute path of a terminal device, such as /dev/pts/3 (got "${values.tty}")`);
  return { spec: values.spec ?? null, tty: values.tty ?? null, cmd, help: values.help === true };
}

export async function runShellCommand(argv: string[]): Promise<number> {
  let parsed: ShellArgs;
  try {
    parsed = parseShellArgs(argv);
  } catch (e) {
    process.stderr.write(`nerves-docker shell: ${(e as Error).message}\n\n${SHELL_USAGE}\n`);
    return EXIT.usage;
  }
  if (parsed.help) {
    process.stdout.write(SHELL_USAGE + '\n');
    return EXIT.ok;
  }
  const specPath = parsed.spec ?? process.env.NERVES_DOCKER_SPEC ?? null;
  if (!specPath) {
    process.stderr.write(`nerves-docker shell: a job spec is needed (--spec FILE.json or NERVES_DOCKER_SPEC)\n\n${SHELL_USAGE}\n`);
    return EXIT.usage;
  }
  const ctx = cliContext({ json: false, yes: false, yesFlag: false }); // NERVES_DOCKER_TS_YES answers yes
  try {
    const raw = await readSpecFile(specPath);
    const args = { ...raw, cmd: parsed.cmd, ...(parsed.tty ? { tty_path: parsed.tty } : {}) };
    const result = await runShell(parseJobSpec(args), parseShellOptions(args), ctx);
    return result.status;
  } catch (e) {
    const info = toErrorInfo(e);
    process.stderr.write(`nerves-docker shell: ${info.message}\n${info.hint ? `\n${info.hint}\n` : ''}`);
    return exitCodeFor(info.code);
  } finally {
    await ctx.cleanup.runAll(10_000);
    ctx.dispose();
  }
}

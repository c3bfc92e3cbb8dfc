// `nerves-docker shell [--spec FILE.json] [--tty PATH] [-- CMD...]`: the
// system shell without Mix. Runs the shell op in this process with the CLI's
// context: messages on stderr, a one-off command's output on stdout/stderr,
// prompts answered on the terminal (or by NERVES_DOCKER_TS_YES=1).
import { toErrorInfo } from '../sidecar/server.js';
import { cliContext, exitCodeFor, readSpecFile } from './context.js';
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

interface Parsed {
  spec: string | null;
  tty: string | null;
  cmd: string[] | null;
  help: boolean;
}

function parseArgs(argv: string[]): Parsed {
  const out: Parsed = { spec: null, tty: null, cmd: null, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.cmd = argv.slice(i + 1);
      if (out.cmd.length === 0) throw new UsageError('nothing after --');
      break;
    }
    if (a === '-h' || a === '--help') out.help = true;
    else if (a === '--spec' || a === '--tty') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      if (a === '--spec') out.spec = v;
      else out.tty = v;
    } else if (a.startsWith('--spec=')) out.spec = a.slice(7);
    else if (a.startsWith('--tty=')) out.tty = a.slice(6);
    else throw new UsageError(`unknown argument "${a}"`);
  }
  return out;
}

class UsageError extends Error {}

export async function runShellCommand(argv: string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`nerves-docker shell: ${(e as Error).message}\n\n${SHELL_USAGE}\n`);
    return 64;
  }
  if (parsed.help) {
    process.stdout.write(SHELL_USAGE + '\n');
    return 0;
  }
  const specPath = parsed.spec ?? process.env.NERVES_DOCKER_SPEC ?? null;
  if (!specPath) {
    process.stderr.write(`nerves-docker shell: a job spec is needed (--spec FILE.json or NERVES_DOCKER_SPEC)\n\n${SHELL_USAGE}\n`);
    return 64;
  }
  const ctx = cliContext({ json: false, yes: ['1', 'true', 'yes'].includes(process.env.NERVES_DOCKER_TS_YES ?? '') });
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

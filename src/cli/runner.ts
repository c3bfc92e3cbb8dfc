// The runner's commands for `nerves-docker` (build, archive, clean, doctor),
// running the same code as the sidecar's ops, without Mix.
import { parseArgs } from 'node:util';
import { toErrorInfo } from '../sidecar/server.js';
import { OpError, usageError } from '../errors.js';
import { runClean, parseCleanSpec } from '../runner/clean.js';
import { cliContext, EXIT, exitCodeFor, jsonLine, readSpecFile } from './context.js';
import { runDoctor } from '../runner/doctor.js';
import { runJob } from '../runner/job/run-job.js';
import { parseJobSpec } from '../runner/spec.js';

export const RUNNER_USAGE: Record<string, string> = {
  build: `usage: nerves-docker build --spec FILE [--make-arg ARG]... [--keep-container] [--yes] [--json]

Builds a Nerves system artifact as NervesDockerTs.BuildRunner.build/3 does.
FILE is a job spec in JSON (print one with \`mix nerves_docker_ts.spec\`).
Prints the artifact's path on stdout (or a "result" JSON line with --json).
--yes (or NERVES_DOCKER_TS_YES=1) answers "create the image?" with yes.`,
  archive: `usage: nerves-docker archive --spec FILE [--yes] [--json]

Runs \`make system\` in the existing build volume and copies the archive out.
--yes (or NERVES_DOCKER_TS_YES=1) answers "create the image?" with yes.`,
  clean: `usage: nerves-docker clean --spec FILE [--json]

Deletes the build volume, the build containers and the artifact cache.`,
  doctor: `usage: nerves-docker doctor [--spec FILE] [--image TAG] [--json]

Checks Node, the engine (found how), its version, free space, the image,
~/.ssh and the UID/GID mapping; prints the fix for each failed check.
With --spec, checks what a build of that system will do (its defconfig and
platform, how it gets its image) and fails only where that build would.
Exit status 1 when a check failed.`,
};

const options = {
  spec: { type: 'string' },
  'make-arg': { type: 'string', multiple: true },
  'keep-container': { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  json: { type: 'boolean' },
  image: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runRunnerCommand(cmd: 'build' | 'archive' | 'clean' | 'doctor', argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
  } catch (err) {
    // --json promises a last `error` event, a mistyped flag included (parseArgs stopped before reading --json).
    if (argv.includes('--json'))
      process.stdout.write(jsonLine({ event: 'error', data: toErrorInfo(usageError((err as Error).message, RUNNER_USAGE[cmd])) }));
    process.stderr.write(`nerves-docker ${cmd}: ${(err as Error).message}\n\n${RUNNER_USAGE[cmd]}\n`);
    return EXIT.usage;
  }
  if (values.help) {
    process.stdout.write(RUNNER_USAGE[cmd] + '\n');
    return EXIT.ok;
  }
  const json = values.json === true;
  const ctx = cliContext({ json, yes: values.yes === true, yesFlag: true });
  try {
    if (cmd === 'doctor') {
      const spec = values.spec ? parseJobSpec(await readSpecFile(values.spec)) : undefined;
      const checks = await runDoctor({ image: values.image, spec });
      if (json) for (const c of checks) process.stdout.write(jsonLine({ event: 'check', data: c }));
      else
        for (const c of checks)
          process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}${c.fix ? `\n     fix: ${c.fix}` : ''}\n`);
      const failed = checks.filter((c) => !c.ok);
      if (failed.length === 0) {
        if (json) process.stdout.write(jsonLine({ event: 'result', data: { ok: true, checks: checks.length } }));
        return EXIT.ok;
      }
      throw new OpError(
        'checks_failed',
        `${failed.length} check${failed.length > 1 ? 's' : ''} failed: ${failed.map((c) => c.name).join(', ')}`,
        'Run the `fix:` of each failed check, then doctor again.',
      );
    }
    const raw = await readSpecFile(values.spec);
    let result: unknown;
    if (cmd === 'clean') {
      result = await runClean(parseCleanSpec(raw), ctx);
    } else {
      // Added to the spec's list; a make_args that is not a list stays as it is, for parseJobSpec to refuse.
      const specArgs = raw.make_args ?? [];
      if (values['make-arg']) raw.make_args = Array.isArray(specArgs) ? [...(specArgs as unknown[]), ...values['make-arg']] : specArgs;
      if (values['keep-container']) raw.keep_container = true;
      raw.tty = process.stderr.isTTY === true && !json;
      const res = await runJob(cmd, parseJobSpec(raw), ctx);
      result = res;
      if (!json) process.stdout.write(res.path + '\n');
    }
    if (json) process.stdout.write(jsonLine({ event: 'result', data: result }));
    return EXIT.ok;
  } catch (err) {
    const info = toErrorInfo(err);
    ctx.endLine();
    if (json) process.stdout.write(jsonLine({ event: 'error', data: info }));
    else process.stderr.write(`nerves-docker ${cmd}: ${info.message}${info.hint ? `\n\n${info.hint}` : ''}\n`);
    return exitCodeFor(info.code);
  } finally {
    await ctx.cleanup.runAll();
    ctx.dispose();
  }
}

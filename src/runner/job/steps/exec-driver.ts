// The plan's steps in ONE exec (each exec costs the engine 50-100 ms, and
// over ssh a round trip more): a POSIX sh driver runs them one after
// another with their stdout and stderr on its stdout, and after each writes
// an end marker there, "<token> <index> <status>\n", stopping at the first
// failure. It first writes "<token> go\n": a stream that ends after it but
// before the driver's end was cut (the connection), not ended by the
// driver. The token is random per run and starts with \x01, so that build
// output never holds it by chance; step-splitter.ts cuts the stream at it.
// Before the first step it may check files the inputs' transport trusted
// without reading (InputsGate in ../inputs/transport.ts).
import { randomBytes } from 'node:crypto';
import { STEP_EXEC, STEP_REFS, stepArgs, type DriverStep } from './driver-args.js';

/** A fresh end-marker token. */
export function driverToken(): Buffer {
  return Buffer.from(`\x01NDT${randomBytes(16).toString('hex')}`, 'latin1');
}

/** A file that must hold `content` (trailing newlines aside) before the first step runs. */
export interface DriverCheck {
  path: string;
  content: string;
}

/** A file the driver hands over after the steps when it is no bigger than `max` (with `<path>.sha256`'s digest, if any). */
export interface DriverCarry {
  path: string;
  max: number;
}

/**
 * The exec's argv: the driver, the token, the checks (count, then path and
 * content of each), the file to carry and its limit (empty: none), then each
 * step's arguments (driver-args.ts). When a check fails, the driver runs no
 * step and writes "<token> stale\n". When every step succeeded and the file
 * is small enough, it writes "<token> file <size> <sha256 or ->\n" and the
 * file's bytes (a small artifact then needs no archive request, ~80 ms).
 */
export function execDriverArgv(token: Buffer, steps: DriverStep[], checks: DriverCheck[] = [], carry: DriverCarry | null = null): string[] {
  const pairs = checks.flatMap((c) => [c.path, c.content.replace(/\n+$/, '')]);
  const file = carry ? [carry.path, String(carry.max)] : ['', '0'];
  return [
    '/bin/sh',
    '-c',
    EXEC_DRIVER,
    'ndt-steps',
    token.toString('latin1'),
    String(checks.length),
    ...pairs,
    ...file,
    ...steps.flatMap(stepArgs),
  ];
}

const EXEC_DRIVER = [
  'tok=$1 nc=$2',
  `printf '%s go\\n' "$tok"`,
  'shift 2',
  'ok=1',
  'while [ "$nc" -gt 0 ]; do',
  '  [ "$(cat -- "$1" 2>/dev/null)" = "$2" ] || ok=0',
  '  shift 2',
  '  nc=$((nc - 1))',
  'done',
  `if [ "$ok" = 0 ]; then printf '%s stale\\n' "$tok"; exit 0; fi`,
  'art=$1 max=$2',
  'shift 2',
  'i=0',
  'while [ "$#" -gt 0 ]; do',
  '  e=$1 n=$2',
  '  shift 2',
  ...STEP_REFS.map((l) => `  ${l}`),
  `  (eval "set -- $refs"; exec 2>&1 </dev/null; ${STEP_EXEC})`,
  '  s=$?',
  `  printf '%s %s %s\\n' "$tok" "$i" "$s"`,
  '  [ "$s" -eq 0 ] || exit "$s"',
  '  shift $((e + n))',
  '  i=$((i + 1))',
  'done',
  '[ -n "$art" ] && [ -f "$art" ] || exit 0',
  'sz=$(wc -c <"$art") && sz=$((sz)) && [ "$sz" -le "$max" ] || exit 0',
  'dg=$(cut -c1-64 "$art.sha256" 2>/dev/null) || dg=',
  'case $dg in *[!0-9a-f]*) dg=- ;; esac',
  '[ ${#dg} -eq 64 ] || dg=-',
  `printf '%s file %s %s\\n' "$tok" "$sz" "$dg"`,
  'exec cat -- "$art"',
].join('\n');

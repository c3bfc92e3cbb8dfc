// Container engine version parsing and requirement checks, ported exactly from
// upstream Nerves (v1.14.1, Nerves.Artifact.BuildRunners.Docker):
//
//   @version "~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0"
//   def parse_docker_version(vsn) do
//     [vsn | _] = String.split(vsn, ",", parts: 2)
//     Regex.replace(~r/(\.|^)0+(?=\d)/, vsn, "\\1") |> Version.parse()
//   end
//
// together with the parts of Elixir's `Version` module that upstream relies on:
// `Version.parse/1` (strict MAJOR.MINOR.PATCH[-pre][+build]) and
// `Version.match?/3` (requirements made of `or`/`and` clauses). The port follows
// the Elixir 1.14 source clause by clause; the unit tests pin it to results
// observed from a real Elixir 1.14 runtime.
//
// The npm `semver` package is deliberately not used for parsing or matching:
// it accepts input Elixir rejects (a leading "v", surrounding whitespace), reads
// `~>` and two-part versions differently (`~>1.12` is ">=1.12.0 <1.13.0" there,
// ">= 1.12.0 and < 2.0.0" in Elixir), and refuses components above
// Number.MAX_SAFE_INTEGER, which Elixir handles as big integers. Ordering here
// is computed on BigInt so it stays exact for such components.

/** A parsed engine version, equivalent to Elixir's `%Version{}`. */
export interface DockerVersion {
  major: number;
  minor: number;
  patch: number;
  /** Pre-release identifiers; numeric identifiers are numbers (Elixir integers). */
  pre: Array<string | number>;
  /** Build metadata after `+` (dot-joined), or null when absent. */
  build: string | null;
  /** Normalized text: MAJOR.MINOR.PATCH[-pre][+build] (Elixir's to_string). */
  text: string;
}

/** Thrown when a version string cannot be parsed (upstream's `:error`). */
export class DockerVersionError extends Error {
  readonly raw: string;
  readonly engine: 'docker' | 'podman';

  constructor(raw: string, engine: 'docker' | 'podman' = 'docker') {
    super(
      `cannot parse ${engine} version ${JSON.stringify(raw)}: ` +
        'expected MAJOR.MINOR.PATCH (optionally -pre and +build)',
    );
    this.name = 'DockerVersionError';
    this.raw = raw;
    this.engine = engine;
  }
}

/** Thrown by matchesRequirement for a requirement Elixir would reject. */
export class VersionRequirementError extends Error {
  readonly requirement: string;

  constructor(requirement: string) {
    super(`invalid version requirement ${JSON.stringify(requirement)}`);
    this.name = 'VersionRequirementError';
    this.requirement = requirement;
  }
}

/** Upstream Nerves' docker requirement (`@version` in the docker build runner). */
export const DOCKER_REQUIREMENT = '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0';

/** Minimum podman version accepted when podman stands in for docker. */
export const PODMAN_REQUIREMENT = '>= 4.0.0';

// ---------------------------------------------------------------------------
// Exact internal representation (Elixir's matchable tuple)

type PreId = bigint | string;

interface Exact {
  major: bigint;
  minor: bigint;
  /** null only for the two-part form allowed inside `~>` requirements. */
  patch: bigint | null;
  pre: PreId[];
  build: string[];
}

/** Exact components of versions produced by parseDockerVersion. */
const exactOf = new WeakMap<DockerVersion, Exact>();

const DIGITS = /^[0-9]+$/;
const IDENTIFIER = /^[0-9A-Za-z-]+$/;

/** Elixir's `leading_zero?`: a "0" followed by at least one more character. */
function leadingZero(s: string): boolean {
  return s.length >= 2 && s.startsWith('0');
}

/** Elixir's `require_digits`. */
function requireDigits(s: string | undefined): bigint | null {
  if (s === undefined || leadingZero(s) || !DIGITS.test(s)) return null;
  return BigInt(s);
}

/** Elixir's `optional_dot_separated`: undefined -> [], invalid -> null. */
function optionalDotSeparated(s: string | undefined): string[] | null {
  if (s === undefined) return [];
  const parts = s.split('.');
  return parts.every((p) => p !== '' && IDENTIFIER.test(p)) ? parts : null;
}

/** Splits on the first occurrence of `sep` (Elixir's `String.split(s, sep, parts: 2)`). */
function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i === -1 ? [s, undefined] : [s.slice(0, i), s.slice(i + sep.length)];
}

/** Port of `Version.Parser.parse_version/2`. */
function parseExact(s: string, approximate: boolean): Exact | null {
  const [versionWithPre, build] = splitOnce(s, '+');
  const [version, pre] = splitOnce(versionWithPre, '-');
  const parts = version.split('.');
  if (parts.length > 3) return null;

  const major = requireDigits(parts[0]);
  if (major === null) return null;
  const minor = requireDigits(parts[1]);
  if (minor === null) return null;
  let patch: bigint | null;
  if (parts[2] === undefined && approximate) {
    patch = null;
  } else {
    patch = requireDigits(parts[2]);
    if (patch === null) return null;
  }

  const preParts = optionalDotSeparated(pre);
  if (preParts === null) return null;
  const preIds: PreId[] = [];
  for (const part of preParts) {
    if (DIGITS.test(part)) {
      if (leadingZero(part)) return null;
      preIds.push(BigInt(part));
    } else {
      preIds.push(part);
    }
  }

  const buildParts = optionalDotSeparated(build);
  if (buildParts === null) return null;

  return { major, minor, patch, pre: preIds, build: buildParts };
}

function toText(e: Exact): string {
  let text = `${e.major}.${e.minor}.${e.patch ?? ''}`;
  if (e.pre.length > 0) text += `-${e.pre.join('.')}`;
  if (e.build.length > 0) text += `+${e.build.join('.')}`;
  return text;
}

function toDockerVersion(e: Exact): DockerVersion {
  const v: DockerVersion = {
    major: Number(e.major),
    minor: Number(e.minor),
    patch: Number(e.patch ?? 0n),
    pre: e.pre.map((id) => (typeof id === 'bigint' ? Number(id) : id)),
    build: e.build.length > 0 ? e.build.join('.') : null,
    text: toText(e),
  };
  exactOf.set(v, e);
  return v;
}

function exactFromFields(v: DockerVersion): Exact {
  const known = exactOf.get(v);
  if (known) return known;
  return {
    major: BigInt(v.major),
    minor: BigInt(v.minor),
    patch: BigInt(v.patch),
    pre: v.pre.map((id) => (typeof id === 'number' ? BigInt(id) : id)),
    build: v.build === null ? [] : v.build.split('.'),
  };
}

// ---------------------------------------------------------------------------
// parse_docker_version

/** Upstream's leading-zero strip, applied to the whole string (pre/build included). */
const LEADING_ZEROS = /(\.|^)0+(?=\d)/g;

/**
 * Upstream `parse_docker_version/1`: keeps the text before the first comma
 * ("27.5.1, build 9f9e405" -> "27.5.1"), strips leading zeros after a dot or at
 * the start ("17.03.1" -> "17.3.1"), then parses strictly like `Version.parse/1`.
 * No trimming: " 1.2.3" and "1.2.3\n" are rejected, as upstream rejects them.
 */
export function tryParseDockerVersion(raw: string): DockerVersion | null {
  const [head] = splitOnce(raw, ',');
  const stripped = head.replace(LEADING_ZEROS, '$1');
  const exact = parseExact(stripped, false);
  return exact === null ? null : toDockerVersion(exact);
}

/** Like tryParseDockerVersion, but throws DockerVersionError when unparsable. */
export function parseDockerVersion(raw: string): DockerVersion {
  const v = tryParseDockerVersion(raw);
  if (v === null) throw new DockerVersionError(raw);
  return v;
}

// ---------------------------------------------------------------------------
// Ordering (Version.compare/2; build metadata ignored)

function cmpBig(a: bigint, b: bigint): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Erlang term order on pre-release lists: integers < binaries, shorter prefix first. */
function cmpPreIds(a: PreId[], b: PreId[]): -1 | 0 | 1 {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as PreId;
    const y = b[i] as PreId;
    if (typeof x === 'bigint' && typeof y === 'bigint') {
      const c = cmpBig(x, y);
      if (c !== 0) return c;
    } else if (typeof x === 'bigint') {
      return -1;
    } else if (typeof y === 'bigint') {
      return 1;
    } else if (x !== y) {
      // Identifiers are ASCII-only, so UTF-16 order equals Erlang's byte order.
      return x < y ? -1 : 1;
    }
  }
  return cmpBig(BigInt(a.length), BigInt(b.length));
}

/** Assumes both patches are present (callers substitute for the `~>` form). */
function cmpExact(a: Exact, b: Exact): -1 | 0 | 1 {
  return (
    cmpBig(a.major, b.major) ||
    cmpBig(a.minor, b.minor) ||
    cmpBig(a.patch ?? 0n, b.patch ?? 0n) ||
    (a.pre.length === 0 && b.pre.length > 0
      ? 1
      : a.pre.length > 0 && b.pre.length === 0
        ? -1
        : cmpPreIds(a.pre, b.pre))
  );
}

/** Elixir's `Version.compare/2` as -1 / 0 / 1 (build metadata is ignored). */
export function compareDockerVersions(a: DockerVersion, b: DockerVersion): -1 | 0 | 1 {
  return cmpExact(exactFromFields(a), exactFromFields(b));
}

// ---------------------------------------------------------------------------
// Requirements (Version.Parser.parse_requirement/1 and Version.Requirement.match?/2)

type Op = '==' | '!=' | '>' | '>=' | '<' | '<=' | '~>';
type Conn = 'and' | 'or';
type Token = { kind: 'op'; op: Op } | { kind: 'conn'; conn: Conn } | { kind: 'ver'; text: string };

interface Clause {
  conn: Conn | null;
  op: Op;
  req: Exact;
}

/** Lexer patterns in Elixir's clause order (longest operators first). */
const LEXEMES: Array<[string, Token | null]> = [
  ['>=', { kind: 'op', op: '>=' }],
  ['<=', { kind: 'op', op: '<=' }],
  ['~>', { kind: 'op', op: '~>' }],
  ['>', { kind: 'op', op: '>' }],
  ['<', { kind: 'op', op: '<' }],
  ['==', { kind: 'op', op: '==' }],
  [' or ', { kind: 'conn', conn: 'or' }],
  [' and ', { kind: 'conn', conn: 'and' }],
  // Deprecated in Elixir (it warns) but still accepted.
  ['!=', { kind: 'op', op: '!=' }],
  ['!', { kind: 'op', op: '!=' }],
  [' ', null],
];

/**
 * Port of `Version.Parser.lexer/3`. `stack` plays the Elixir accumulator list
 * with its head at the end; a version not preceded by an operator gets `==`.
 */
function lex(source: string): Token[] {
  const stack: Token[] = [];
  let buffer = '';
  const flush = (): void => {
    if (buffer === '') return;
    const top = stack[stack.length - 1];
    if (top === undefined || top.kind !== 'op') stack.push({ kind: 'op', op: '==' });
    stack.push({ kind: 'ver', text: buffer });
    buffer = '';
  };
  let i = 0;
  outer: while (i < source.length) {
    for (const [lexeme, token] of LEXEMES) {
      if (source.startsWith(lexeme, i)) {
        flush();
        if (token) stack.push(token);
        i += lexeme.length;
        continue outer;
      }
    }
    buffer += source.charAt(i);
    i += 1;
  }
  flush();
  return stack;
}

/** Port of `revert_lexed/2` + `validate_requirement/2`. */
function parseRequirement(source: string): Clause[] | null {
  const elixirList = lex(source).reverse(); // head first, i.e. last token first
  const clauses: Clause[] = [];
  let rest = elixirList;
  for (;;) {
    const [version, op, cond] = rest;
    if (version?.kind !== 'ver' || op?.kind !== 'op') return null;
    const req = parseExact(version.text, true);
    if (req === null || (op.op !== '~>' && req.patch === null)) return null;
    if (rest.length === 2) {
      clauses.unshift({ conn: null, op: op.op, req });
      return clauses;
    }
    if (cond?.kind !== 'conn') return null;
    clauses.unshift({ conn: cond.conn, op: op.op, req });
    rest = rest.slice(3);
  }
}

interface Matchable {
  v: Exact;
  allowPre: boolean;
}

function preOk(req: Exact, m: Matchable): boolean {
  return m.allowPre || req.pre.length > 0 || m.v.pre.length === 0;
}

/** Port of `Version.Requirement.match_op?/3`. */
function matchOp(op: Op, req: Exact, m: Matchable): boolean {
  const v = m.v;
  switch (op) {
    case '==':
      return cmpExact(v, req) === 0;
    case '!=':
      return cmpExact(v, req) !== 0;
    case '~>': {
      const lower: Exact = req.patch === null ? { ...req, patch: 0n } : req;
      const upper: Exact =
        req.patch === null
          ? { major: req.major + 1n, minor: 0n, patch: 0n, pre: [0n], build: [] }
          : { major: req.major, minor: req.minor + 1n, patch: 0n, pre: [0n], build: [] };
      return cmpExact(v, lower) >= 0 && cmpExact(v, upper) < 0 && preOk(req, m);
    }
    case '>':
      return cmpExact(v, req) > 0 && preOk(req, m);
    case '>=':
      return cmpExact(v, req) >= 0 && preOk(req, m);
    case '<':
      return cmpExact(v, req) < 0;
    case '<=':
      return cmpExact(v, req) <= 0;
  }
}

/**
 * Elixir's `Version.match?(version, requirement, allow_pre: allowPre)`.
 * `allowPre` defaults to true, as in Elixir (and as upstream Nerves calls it):
 * a pre-release matches whenever it orders inside the range, so "17.0.0-ce"
 * fails ">= 17.0.0" (it sorts before 17.0.0) while "18.3.0-ce" passes.
 * Clauses are folded left to right: a true accumulator before `or` returns
 * true, `and` requires both sides. Throws VersionRequirementError for a
 * requirement Elixir would reject.
 */
export function matchesRequirement(
  v: DockerVersion,
  requirement: string,
  options: { allowPre?: boolean } = {},
): boolean {
  const clauses = parseRequirement(requirement);
  if (clauses === null) throw new VersionRequirementError(requirement);
  const m: Matchable = { v: exactFromFields(v), allowPre: options.allowPre ?? true };
  const [first, ...rest] = clauses as [Clause, ...Clause[]];
  let acc = matchOp(first.op, first.req, m);
  for (const clause of rest) {
    if (clause.conn === 'or') {
      if (acc) return true;
      acc = matchOp(clause.op, clause.req, m);
    } else {
      acc = acc && matchOp(clause.op, clause.req, m);
    }
  }
  return acc;
}

/** Whether `requirement` is one Elixir's `Version.parse_requirement/1` accepts. */
export function isValidRequirement(requirement: string): boolean {
  return parseRequirement(requirement) !== null;
}

// ---------------------------------------------------------------------------
// Host check

/**
 * The host check upstream performs before a docker build (`host_check/0`),
 * extended to podman. `info.version` is the engine's version string, e.g. the
 * text after "Docker version " or the Engine API's `Version` field.
 */
export function checkEngineVersion(info: {
  version: string;
  engine: 'docker' | 'podman';
}): { ok: true; version: DockerVersion } | { ok: false; message: string } {
  const { engine } = info;
  const requirement = engine === 'podman' ? PODMAN_REQUIREMENT : DOCKER_REQUIREMENT;
  const version = tryParseDockerVersion(info.version);
  if (version === null) {
    const error = new DockerVersionError(info.version, engine);
    return {
      ok: false,
      message:
        `${error.message}\n` +
        `hint: check what \`${engine} version\` reports; the engine must report a ` +
        `version such as "${engine === 'podman' ? '4.9.4' : '27.5.1'}" that meets: ${requirement}`,
    };
  }
  if (!matchesRequirement(version, requirement)) {
    return {
      ok: false,
      message: `Your version of ${engine}: ${version.text}\ndoes not meet the requirements: ${requirement}`,
    };
  }
  return { ok: true, version };
}

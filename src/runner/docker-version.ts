// Container engine version parsing and requirement checks, with upstream
// Nerves' exact semantics (v1.14.1, Nerves.Artifact.BuildRunners.Docker):
//
//   @version "~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0"
//   def parse_docker_version(vsn) do
//     [vsn | _] = String.split(vsn, ",", parts: 2)
//     Regex.replace(~r/(\.|^)0+(?=\d)/, vsn, "\\1") |> Version.parse()
//   end
//
// Elixir's `Version.parse/1` reads SemVer 2.0 exactly as npm's semver does in
// strict mode, so the grammar is semver's own (its MAINVERSION, PRERELEASE
// and BUILD token sources), and pre-release identifiers order by semver's
// compareIdentifiers. Where Elixir's Version and semver part ways, this module
// keeps Elixir's rules (pinned by test/unit/docker-version.test.ts to a real
// Elixir 1.14 runtime):
// - no "v" prefix and no surrounding whitespace (semver.parse accepts both);
// - numbers of any size (Elixir integers): semver refuses components beyond
//   Number.MAX_SAFE_INTEGER, so numbers are compared as BigInt;
// - requirements are Elixir's (`~>`, `or`/`and`, `!=`), not semver ranges
//   (`~>1.12` is ">= 1.12.0 and < 2.0.0" in Elixir, "<1.13.0" in semver);
// - allow_pre: false only guards `>`, `>=` and `~>` (semver's
//   includePrerelease rule looks at the comparator set instead).
import re from 'semver/internal/re.js';
import identifiers from 'semver/internal/identifiers.js';

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
    super(`cannot parse ${engine} version ${JSON.stringify(raw)}: ` + 'expected MAJOR.MINOR.PATCH (optionally -pre and +build)');
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

/**
 * What the runner needs, as a person writes it, for doctor and hints.
 * Upstream's "~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0" admits every Docker
 * from 1.12 on (1.12, 1.13, then 17.03 and later), but 1.12's Engine API
 * (1.24) lacks HostConfig.Mounts, so the runner's API check (engine/version.ts)
 * asks for 1.13.
 */
export function requirementText(engine: 'docker' | 'podman'): string {
  return engine === 'podman' ? 'Podman 4.0 or newer' : 'Docker 1.13 or newer';
}

// ---------------------------------------------------------------------------
// The grammar: semver's token sources, anchored, without its "v?" and trimming

const token = (name: string): string => re.src[re.t[name]!]!;
const TAIL = `${token('PRERELEASE')}?${token('BUILD')}?$`;
/** MAJOR.MINOR.PATCH[-pre][+build]: groups 1-3 the numbers, 4 the pre-release, 5 the build. */
const VERSION_RE = new RegExp(`^${token('MAINVERSION')}${TAIL}`);
/** Inside `~>` Elixir also takes MAJOR.MINOR[-pre][+build] (the patch group is then empty). */
const APPROXIMATE_RE = new RegExp(`^(${token('NUMERICIDENTIFIER')})\\.(${token('NUMERICIDENTIFIER')})()${TAIL}`);

/** Exact components (Elixir's matchable tuple); patch is null only in the two-part `~>` form. */
interface Exact {
  major: bigint;
  minor: bigint;
  patch: bigint | null;
  /** Pre-release identifiers as written (numeric ones without leading zeros). */
  pre: string[];
  build: string[];
}

const DIGITS = /^[0-9]+$/;

function parseExact(s: string, approximate: boolean): Exact | null {
  const m = VERSION_RE.exec(s) ?? (approximate ? APPROXIMATE_RE.exec(s) : null);
  if (!m) return null;
  return {
    major: BigInt(m[1]!),
    minor: BigInt(m[2]!),
    patch: m[3] ? BigInt(m[3]) : null,
    pre: m[4]?.split('.') ?? [],
    build: m[5]?.split('.') ?? [],
  };
}

/** Exact components of versions produced by parseDockerVersion. */
const exactOf = new WeakMap<DockerVersion, Exact>();

function toDockerVersion(e: Exact): DockerVersion {
  const pre = e.pre.length > 0 ? `-${e.pre.join('.')}` : '';
  const build = e.build.length > 0 ? `+${e.build.join('.')}` : '';
  const v: DockerVersion = {
    major: Number(e.major),
    minor: Number(e.minor),
    patch: Number(e.patch ?? 0n),
    pre: e.pre.map((id) => (DIGITS.test(id) ? Number(id) : id)),
    build: e.build.length > 0 ? e.build.join('.') : null,
    text: `${e.major}.${e.minor}.${e.patch ?? ''}${pre}${build}`,
  };
  exactOf.set(v, e);
  return v;
}

/** A hand-built DockerVersion (no parse behind it) read as exact components. */
function exactFromFields(v: DockerVersion): Exact {
  return (
    exactOf.get(v) ?? {
      major: BigInt(v.major),
      minor: BigInt(v.minor),
      patch: BigInt(v.patch),
      pre: v.pre.map(String),
      build: v.build === null ? [] : v.build.split('.'),
    }
  );
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
  const comma = raw.indexOf(',');
  const head = comma === -1 ? raw : raw.slice(0, comma);
  const exact = parseExact(head.replace(LEADING_ZEROS, '$1'), false);
  return exact === null ? null : toDockerVersion(exact);
}

/** Like tryParseDockerVersion, but throws DockerVersionError when unparsable. */
export function parseDockerVersion(raw: string): DockerVersion {
  const v = tryParseDockerVersion(raw);
  if (v === null) throw new DockerVersionError(raw);
  return v;
}

// ---------------------------------------------------------------------------
// Ordering (Version.compare/2 = SemVer precedence; build metadata ignored)

function cmpBig(a: bigint, b: bigint): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** semver's identifier order (numbers before strings), numbers compared exactly. */
function cmpIdentifier(a: string, b: string): -1 | 0 | 1 {
  return DIGITS.test(a) && DIGITS.test(b) ? cmpBig(BigInt(a), BigInt(b)) : identifiers.compareIdentifiers(a, b);
}

/** A release orders after its pre-releases; else identifier by identifier, a shorter prefix first. */
function cmpPre(a: string[], b: string[]): -1 | 0 | 1 {
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 0 : a.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = cmpIdentifier(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return cmpBig(BigInt(a.length), BigInt(b.length));
}

function cmpExact(a: Exact, b: Exact): -1 | 0 | 1 {
  return cmpBig(a.major, b.major) || cmpBig(a.minor, b.minor) || cmpBig(a.patch ?? 0n, b.patch ?? 0n) || cmpPre(a.pre, b.pre);
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
 * Port of `Version.Parser.lexer/3`: tokens in order; text between lexemes is
 * a version, given `==` when no operator precedes it.
 */
function lex(source: string): Token[] {
  const out: Token[] = [];
  let buffer = '';
  const flush = (): void => {
    if (buffer === '') return;
    if (out[out.length - 1]?.kind !== 'op') out.push({ kind: 'op', op: '==' });
    out.push({ kind: 'ver', text: buffer });
    buffer = '';
  };
  let i = 0;
  outer: while (i < source.length) {
    for (const [lexeme, t] of LEXEMES) {
      if (source.startsWith(lexeme, i)) {
        flush();
        if (t) out.push(t);
        i += lexeme.length;
        continue outer;
      }
    }
    buffer += source.charAt(i);
    i += 1;
  }
  flush();
  return out;
}

/** Port of `revert_lexed/2` + `validate_requirement/2`: op version (conn op version)*, read from the end. */
function parseRequirement(source: string): Clause[] | null {
  const tokens = lex(source);
  const clauses: Clause[] = [];
  for (let end = tokens.length; ; end -= 3) {
    const [cond, op, version] = [tokens[end - 3], tokens[end - 2], tokens[end - 1]];
    if (version?.kind !== 'ver' || op?.kind !== 'op') return null;
    const req = parseExact(version.text, op.op === '~>');
    if (req === null) return null;
    if (end === 2) {
      clauses.unshift({ conn: null, op: op.op, req });
      return clauses;
    }
    if (cond?.kind !== 'conn') return null;
    clauses.unshift({ conn: cond.conn, op: op.op, req });
  }
}

/** Elixir's pre-release guard of `>`, `>=` and `~>` under allow_pre: false. */
function preOk(req: Exact, v: Exact, allowPre: boolean): boolean {
  return allowPre || req.pre.length > 0 || v.pre.length === 0;
}

/** Port of `Version.Requirement.match_op?/3`. */
function matchOp(op: Op, req: Exact, v: Exact, allowPre: boolean): boolean {
  switch (op) {
    case '==':
      return cmpExact(v, req) === 0;
    case '!=':
      return cmpExact(v, req) !== 0;
    case '~>': {
      // ~> 1.2 is >= 1.2.0 and < 2.0.0-0; ~> 1.2.3 is >= 1.2.3 and < 1.3.0-0.
      const lower: Exact = { ...req, patch: req.patch ?? 0n };
      const upper: Exact =
        req.patch === null
          ? { major: req.major + 1n, minor: 0n, patch: 0n, pre: ['0'], build: [] }
          : { major: req.major, minor: req.minor + 1n, patch: 0n, pre: ['0'], build: [] };
      return cmpExact(v, lower) >= 0 && cmpExact(v, upper) < 0 && preOk(req, v, allowPre);
    }
    case '>':
      return cmpExact(v, req) > 0 && preOk(req, v, allowPre);
    case '>=':
      return cmpExact(v, req) >= 0 && preOk(req, v, allowPre);
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
export function matchesRequirement(v: DockerVersion, requirement: string, options: { allowPre?: boolean } = {}): boolean {
  const clauses = parseRequirement(requirement);
  if (clauses === null) throw new VersionRequirementError(requirement);
  const exact = exactFromFields(v);
  const allowPre = options.allowPre ?? true;
  const [first, ...rest] = clauses as [Clause, ...Clause[]];
  let acc = matchOp(first.op, first.req, exact, allowPre);
  for (const clause of rest) {
    if (clause.conn === 'or') {
      if (acc) return true;
      acc = matchOp(clause.op, clause.req, exact, allowPre);
    } else {
      acc = acc && matchOp(clause.op, clause.req, exact, allowPre);
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

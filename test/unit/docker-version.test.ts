// Tests for src/runner/docker-version.ts: upstream Nerves' parse_docker_version
// and Elixir's Version.parse / Version.match?, pinned to results observed from a
// real Elixir 1.14.0 (OTP 24) runtime.
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import {
  checkEngineVersion,
  compareDockerVersions,
  DOCKER_REQUIREMENT,
  DockerVersionError,
  isValidRequirement,
  matchesRequirement,
  parseDockerVersion,
  PODMAN_REQUIREMENT,
  tryParseDockerVersion,
  VersionRequirementError,
  type DockerVersion,
} from '../../src/runner/docker-version.js';

// Produced by Elixir 1.14's Version.parse/1 through upstream's
// parse_docker_version/1 (split on the first ",", strip leading zeros with
// ~r/(\.|^)0+(?=\d)/, then Version.parse). null = :error.
const PARSE_TABLE: Array<[string, DockerVersion | null]> = [
  ['17.0.1', { text: '17.0.1', major: 17, minor: 0, patch: 1, pre: [], build: null }],
  ['17.03.1', { text: '17.3.1', major: 17, minor: 3, patch: 1, pre: [], build: null }],
  ['0017000.00300.00001000-ce', { text: '17000.300.1000-ce', major: 17000, minor: 300, patch: 1000, pre: ['ce'], build: null }],
  ['28.2.2, build e6534b4', { text: '28.2.2', major: 28, minor: 2, patch: 2, pre: [], build: null }],
  ['20.10.24+dfsg1', { text: '20.10.24+dfsg1', major: 20, minor: 10, patch: 24, pre: [], build: 'dfsg1' }],
  ['20.10.24+dfsg1, build 297e128', { text: '20.10.24+dfsg1', major: 20, minor: 10, patch: 24, pre: [], build: 'dfsg1' }],
  ['17.03.1-ce', { text: '17.3.1-ce', major: 17, minor: 3, patch: 1, pre: ['ce'], build: null }],
  ['17.06.0-ce-rc2', { text: '17.6.0-ce-rc2', major: 17, minor: 6, patch: 0, pre: ['ce-rc2'], build: null }],
  ['1.13.1', { text: '1.13.1', major: 1, minor: 13, patch: 1, pre: [], build: null }],
  ['24.0.7-rd', { text: '24.0.7-rd', major: 24, minor: 0, patch: 7, pre: ['rd'], build: null }],
  ['25.0.0-beta.1', { text: '25.0.0-beta.1', major: 25, minor: 0, patch: 0, pre: ['beta', 1], build: null }],
  ['27.5.1, build 9f9e405', { text: '27.5.1', major: 27, minor: 5, patch: 1, pre: [], build: null }],
  ['4.3.1', { text: '4.3.1', major: 4, minor: 3, patch: 1, pre: [], build: null }],
  ['5.2.0-dev', { text: '5.2.0-dev', major: 5, minor: 2, patch: 0, pre: ['dev'], build: null }],
  ['4.9.4-rhel', { text: '4.9.4-rhel', major: 4, minor: 9, patch: 4, pre: ['rhel'], build: null }],
  ['', null],
  ['abc', null],
  ['1.2', null],
  ['1.2.3.4', null],
  ['v1.2.3', null],
  [' 1.2.3', null],
  ['1.2.3 ', null],
  ['1.2.3\n', null],
  ['1.2.3, build x\n', { text: '1.2.3', major: 1, minor: 2, patch: 3, pre: [], build: null }],
  ['1.2.3-rc.01', { text: '1.2.3-rc.1', major: 1, minor: 2, patch: 3, pre: ['rc', 1], build: null }],
  ['1.2.3-rc.0', { text: '1.2.3-rc.0', major: 1, minor: 2, patch: 3, pre: ['rc', 0], build: null }],
  ['1.2.3-01', null],
  ['1.2.3-0a', { text: '1.2.3-0a', major: 1, minor: 2, patch: 3, pre: ['0a'], build: null }],
  ['1.2.3-rc.00a', { text: '1.2.3-rc.0a', major: 1, minor: 2, patch: 3, pre: ['rc', '0a'], build: null }],
  ['1.2.3-', null],
  ['1.2.3+', null],
  ['1.2.3-rc..1', null],
  ['1.2.3+build.01', { text: '1.2.3+build.1', major: 1, minor: 2, patch: 3, pre: [], build: 'build.1' }],
  ['1.2.3+b-x', { text: '1.2.3+b-x', major: 1, minor: 2, patch: 3, pre: [], build: 'b-x' }],
  ['1.2.3+b+x', null],
  ['1.2.3-a_b', null],
  ['1.2.3-é', null],
  ['00.00.00', { text: '0.0.0', major: 0, minor: 0, patch: 0, pre: [], build: null }],
  ['0.0.0', { text: '0.0.0', major: 0, minor: 0, patch: 0, pre: [], build: null }],
  ['0.0.0-0', { text: '0.0.0-0', major: 0, minor: 0, patch: 0, pre: [0], build: null }],
  ['1.02.3-rc.1', { text: '1.2.3-rc.1', major: 1, minor: 2, patch: 3, pre: ['rc', 1], build: null }],
  ['1.2.3-rc.1.02', { text: '1.2.3-rc.1.2', major: 1, minor: 2, patch: 3, pre: ['rc', 1, 2], build: null }],
  ['1.2.3-x.7.z.92', { text: '1.2.3-x.7.z.92', major: 1, minor: 2, patch: 3, pre: ['x', 7, 'z', 92], build: null }],
  ['1.2.3-alpha+001', { text: '1.2.3-alpha+001', major: 1, minor: 2, patch: 3, pre: ['alpha'], build: '001' }],
  ['1.-2.3', null],
  ['1.2.3-rc-1', { text: '1.2.3-rc-1', major: 1, minor: 2, patch: 3, pre: ['rc-1'], build: null }],
  [',1.2.3', null],
  ['1.2.3,', { text: '1.2.3', major: 1, minor: 2, patch: 3, pre: [], build: null }],
  ['1,2,3', null],
  ['01.2.3', { text: '1.2.3', major: 1, minor: 2, patch: 3, pre: [], build: null }],
  ['1.2.3-1.02', { text: '1.2.3-1.2', major: 1, minor: 2, patch: 3, pre: [1, 2], build: null }],
  ['1.2.3-.1', null],
  ['99999999999999999999.0.0', { text: '99999999999999999999.0.0', major: 99999999999999999999, minor: 0, patch: 0, pre: [], build: null }],
  [
    '1.2.3-18446744073709551616',
    { text: '1.2.3-18446744073709551616', major: 1, minor: 2, patch: 3, pre: [18446744073709551616], build: null },
  ],
  ['1.0.0-0.3.7', { text: '1.0.0-0.3.7', major: 1, minor: 0, patch: 0, pre: [0, 3, 7], build: null }],
  ['1.2.3--', { text: '1.2.3--', major: 1, minor: 2, patch: 3, pre: ['-'], build: null }],
  ['1.2.3-0-0', { text: '1.2.3-0-0', major: 1, minor: 2, patch: 3, pre: ['0-0'], build: null }],
  ['1.2.3+0-0', { text: '1.2.3+0-0', major: 1, minor: 2, patch: 3, pre: [], build: '0-0' }],
  ['1.2.3-rc.0001x', { text: '1.2.3-rc.1x', major: 1, minor: 2, patch: 3, pre: ['rc', '1x'], build: null }],
  ['1.2.3 -rc', null],
  ['1.2.x', null],
  ['1..2', null],
  ['1.2.3-rc1+', null],
  ['18.09.1-beta3', { text: '18.9.1-beta3', major: 18, minor: 9, patch: 1, pre: ['beta3'], build: null }],
  ['19.03.13-beta2', { text: '19.3.13-beta2', major: 19, minor: 3, patch: 13, pre: ['beta2'], build: null }],
  ['20.10.7+azure', { text: '20.10.7+azure', major: 20, minor: 10, patch: 7, pre: [], build: 'azure' }],
];

// Produced by Elixir 1.14's Version.match?/3:
// [version, requirement, match?(v, r), match?(v, r, allow_pre: false)].
const MATCH_TABLE: Array<[string, string, boolean, boolean]> = [
  ['17.0.0', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', true, true],
  ['17.0.0-ce', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', false, false],
  ['17.3.1-ce', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', true, false],
  ['18.3.0-ce', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', true, false],
  ['28.2.2', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', true, true],
  ['20.10.24+dfsg1', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', true, true],
  ['1.13.1', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', true, true],
  ['1.12.0', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', true, true],
  ['1.12.0-rc2', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', true, true],
  ['1.12.0-rc1', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', false, false],
  ['1.11.2', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', false, false],
  ['2.0.0', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', false, false],
  ['16.9.9', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', false, false],
  ['17.6.0-ce-rc2', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', true, false],
  ['1.99.0-beta', '~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0', true, false],
  ['17.0.0', '>= 17.0.0', true, true],
  ['17.0.0-ce', '>= 17.0.0', false, false],
  ['18.3.0-ce', '>= 17.0.0', true, false],
  ['17.0.1-rc1', '>= 17.0.0', true, false],
  ['1.12.0-rc3', '~> 1.12.0-rc2', true, true],
  ['1.12.0-rc2', '~> 1.12.0-rc2', true, true],
  ['1.12.0-rc10', '~> 1.12.0-rc2', false, false],
  ['1.12.0-rc1', '~> 1.12.0-rc2', false, false],
  ['1.12.0', '~> 1.12.0-rc2', true, true],
  ['1.12.9', '~> 1.12.0-rc2', true, true],
  ['1.13.0-rc1', '~> 1.12.0-rc2', false, false],
  ['1.13.0', '~> 1.12.0-rc2', false, false],
  ['1.12.0-rc.2', '~> 1.12.0-rc2', false, false],
  ['1.12.0', '~> 1.12', true, true],
  ['1.99.99', '~> 1.12', true, true],
  ['2.0.0-0', '~> 1.12', false, false],
  ['2.0.0-rc1', '~> 1.12', false, false],
  ['2.0.0', '~> 1.12', false, false],
  ['1.12.0-rc2', '~> 1.12', false, false],
  ['1.12.0-0', '~> 1.12-0', true, true],
  ['1.12.0-rc2', '~> 1.12-rc1', true, true],
  ['1.11.0', '~> 1.12-rc1', false, false],
  ['4.0.0', '>= 4.0.0', true, true],
  ['3.4.4', '>= 4.0.0', false, false],
  ['4.0.0-rc1', '>= 4.0.0', false, false],
  ['5.2.0-dev', '>= 4.0.0', true, false],
  ['4.9.4-rhel', '>= 4.0.0', true, false],
  ['4.3.1', '>= 4.0.0', true, true],
  ['1.2.3', '== 1.2.3', true, true],
  ['1.2.3+build', '== 1.2.3', true, true],
  ['1.2.3', '1.2.3', true, true],
  ['1.2.3-rc1', '1.2.3', false, false],
  ['1.2.3', '!= 1.2.3', false, false],
  ['1.2.4', '!= 1.2.3', true, true],
  ['1.2.4', '> 1.2.3', true, true],
  ['1.2.4-rc1', '> 1.2.3', true, false],
  ['1.2.3-rc1', '> 1.2.3-rc0', true, true],
  ['1.2.3-rc.1', '> 1.2.3-rc', true, true],
  ['1.2.3-1', '> 1.2.3-a', false, false],
  ['1.2.3-a', '> 1.2.3-1', true, true],
  ['1.2.3-rc.10', '> 1.2.3-rc.9', true, true],
  ['1.2.3-rc10', '> 1.2.3-rc9', false, false],
  ['1.2.3-B', '> 1.2.3-a', false, false],
  ['1.2.3-alpha.beta', '> 1.2.3-alpha.1', true, true],
  ['1.2.2', '< 1.2.3', true, true],
  ['1.2.3-rc1', '< 1.2.3', true, true],
  ['1.2.3', '<= 1.2.3', true, true],
  ['1.2.4', '<= 1.2.3', false, false],
  ['1.5.0', '>= 1.0.0 and < 2.0.0', true, true],
  ['2.0.0', '>= 1.0.0 and < 2.0.0', false, false],
  ['0.9.0', '>= 1.0.0 and < 2.0.0', false, false],
  ['3.0.0', '< 1.0.0 or >= 3.0.0 and < 4.0.0', true, true],
  ['0.5.0', '< 1.0.0 or >= 3.0.0 and < 4.0.0', true, true],
  ['5.0.0', '< 1.0.0 or >= 3.0.0 and < 4.0.0', false, false],
  ['0.5.0', '>= 0.1.0 and < 1.0.0 or > 9.0.0', true, true],
  ['9.5.0', '>= 0.1.0 and < 1.0.0 or > 9.0.0', true, true],
  ['0.5.0', '< 1.0.0 or > 9.0.0 and < 9.1.0', true, true],
  ['1.2.3', '>=1.2.3', true, true],
  ['1.2.3', '~>1.2', true, true],
  ['1.2.3', '>= 1.2.3+build.1', true, true],
  ['1.2.3', '== 1.2.3  or == 9.9.9', true, true],
  ['9.9.9', '~> 9.9.9', true, true],
  ['9.10.0', '~> 9.9.9', false, false],
  ['99999999999999999999.0.0', '>= 99999999999999999998.0.0', true, true],
  ['9007199254740993.0.0', '> 9007199254740992.0.0', true, true],
  ['1.2.3-9007199254740993', '> 1.2.3-9007199254740992', true, true],
  ['1.0.0', '~> 0.9', false, false],
  ['0.9.5', '~> 0.9', true, true],
];

// Produced by Elixir 1.14's Version.parse_requirement/1: true = {:ok, _}.
const REQUIREMENT_TABLE: Array<[string, boolean]> = [
  ['', false],
  ['1.2', false],
  ['>= 1.2', false],
  ['~> 1', false],
  ['> 1.2', false],
  ['>= 1.2.3 or', false],
  ['or >= 1.2.3', false],
  ['>= >= 1.2.3', false],
  ['1.2.3 1.2.4', false],
  ['>= 1.2.3 and', false],
  ['>= v1.2.3', false],
  ['=> 1.2.3', false],
  ['~> 1.2.3.4', false],
  ['>= 1.2.3 OR >= 2.0.0', false],
  ['>= 1.2.3 || >= 2.0.0', false],
  ['= 1.2.3', false],
  ['~>', false],
  ['>= 1.2.3, < 2.0.0', false],
  ['>= 01.2.3', false],
  ['1.2.3', true],
  ['~> 1.2', true],
  ['~> 1.2-rc1', true],
  ['! 1.2.3', true],
  ['!= 1.2.3', true],
  ['  >=   1.2.3  ', true],
  ['==1.2.3', true],
  ['~> 1.2+build', true],
  ['>= 1.2.3 or ~> 2.0', true],
];

describe('parseDockerVersion: upstream cases', () => {
  it('parses "17.0.1"', () => {
    expect(parseDockerVersion('17.0.1')).toMatchObject({ major: 17, minor: 0, patch: 1, pre: [], build: null });
  });
  it('strips leading zeros in "17.03.1"', () => {
    expect(parseDockerVersion('17.03.1')).toMatchObject({ major: 17, minor: 3, patch: 1, text: '17.3.1' });
  });
  it('strips leading zeros in "0017000.00300.00001000-ce"', () => {
    expect(parseDockerVersion('0017000.00300.00001000-ce')).toEqual({
      major: 17000,
      minor: 300,
      patch: 1000,
      pre: ['ce'],
      build: null,
      text: '17000.300.1000-ce',
    });
  });
});

describe('parseDockerVersion: versions seen in the wild', () => {
  const wild: Array<[string, string]> = [
    ['28.2.2, build e6534b4', '28.2.2'],
    ['20.10.24+dfsg1', '20.10.24+dfsg1'],
    ['20.10.24+dfsg1, build 297e128', '20.10.24+dfsg1'],
    ['17.03.1-ce', '17.3.1-ce'],
    ['17.06.0-ce-rc2', '17.6.0-ce-rc2'],
    ['1.13.1', '1.13.1'],
    ['24.0.7-rd', '24.0.7-rd'],
    ['25.0.0-beta.1', '25.0.0-beta.1'],
    ['27.5.1, build 9f9e405', '27.5.1'],
    ['4.3.1', '4.3.1'],
    ['5.2.0-dev', '5.2.0-dev'],
    ['4.9.4-rhel', '4.9.4-rhel'],
  ];
  it.each(wild)('%j -> %s', (raw, text) => {
    expect(parseDockerVersion(raw).text).toBe(text);
  });

  it('keeps the build metadata and splits pre-release identifiers', () => {
    expect(parseDockerVersion('20.10.24+dfsg1, build 297e128').build).toBe('dfsg1');
    expect(parseDockerVersion('25.0.0-beta.1').pre).toEqual(['beta', 1]);
    // "-ce-rc2" is one identifier: only the first "-" separates the pre-release.
    expect(parseDockerVersion('17.06.0-ce-rc2').pre).toEqual(['ce-rc2']);
  });

  it.each(['', 'abc', '1.2', '1.2.3.4', 'v1.2.3'])('rejects garbage %j', (raw) => {
    expect(tryParseDockerVersion(raw)).toBeNull();
    expect(() => parseDockerVersion(raw)).toThrow(DockerVersionError);
    expect(() => parseDockerVersion(raw)).toThrow(
      `cannot parse docker version ${JSON.stringify(raw)}: expected MAJOR.MINOR.PATCH (optionally -pre and +build)`,
    );
  });
});

describe('parseDockerVersion: Elixir-verified table', () => {
  it.each(PARSE_TABLE)('%j', (raw, expected) => {
    const v = tryParseDockerVersion(raw);
    if (expected === null) {
      expect(v).toBeNull();
    } else {
      expect(v).toEqual(expected);
    }
  });

  it('covers at least 60 inputs', () => {
    expect(PARSE_TABLE.length).toBeGreaterThanOrEqual(60);
  });

  it('keeps text exact for components beyond Number.MAX_SAFE_INTEGER', () => {
    expect(parseDockerVersion('99999999999999999999.0.0').text).toBe('99999999999999999999.0.0');
    expect(parseDockerVersion('1.2.3-18446744073709551616').text).toBe('1.2.3-18446744073709551616');
  });
});

describe('matchesRequirement: Elixir-verified table', () => {
  it('has at least 40 rows', () => {
    expect(MATCH_TABLE.length).toBeGreaterThanOrEqual(40);
  });

  it.each(MATCH_TABLE)('%j matches %j: %s (allow_pre: false -> %s)', (version, requirement, allowPre, noPre) => {
    const v = parseDockerVersion(version);
    expect(matchesRequirement(v, requirement)).toBe(allowPre);
    expect(matchesRequirement(v, requirement, { allowPre: true })).toBe(allowPre);
    expect(matchesRequirement(v, requirement, { allowPre: false })).toBe(noPre);
  });

  it('works on hand-built versions (no parse metadata)', () => {
    const v: DockerVersion = { major: 18, minor: 3, patch: 0, pre: ['ce'], build: null, text: '18.3.0-ce' };
    expect(matchesRequirement(v, DOCKER_REQUIREMENT)).toBe(true);
    expect(matchesRequirement({ ...v, major: 17, minor: 0 }, DOCKER_REQUIREMENT)).toBe(false);
  });
});

describe('requirements: Elixir-verified validity', () => {
  it.each(REQUIREMENT_TABLE)('%j valid: %s', (requirement, valid) => {
    expect(isValidRequirement(requirement)).toBe(valid);
    const v = parseDockerVersion('1.2.3');
    if (valid) {
      expect(() => matchesRequirement(v, requirement)).not.toThrow();
    } else {
      expect(() => matchesRequirement(v, requirement)).toThrow(VersionRequirementError);
    }
  });

  it('accepts the upstream and podman requirements', () => {
    expect(isValidRequirement(DOCKER_REQUIREMENT)).toBe(true);
    expect(isValidRequirement(PODMAN_REQUIREMENT)).toBe(true);
    expect(DOCKER_REQUIREMENT).toBe('~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0');
    expect(PODMAN_REQUIREMENT).toBe('>= 4.0.0');
  });
});

describe('compareDockerVersions', () => {
  // Ordinary SemVer precedence agrees with npm semver for safe-integer versions.
  const versions = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.0+build',
    '17.3.1-ce',
    '17.6.0-ce-rc2',
    '20.10.24+dfsg1',
    '24.0.7-rd',
    '25.0.0-beta.1',
    '25.0.0',
    '28.2.2',
    '1.2.3-B',
    '1.2.3-a',
    '1.2.3-rc10',
    '1.2.3-rc9',
    '1.2.3-0',
    '1.2.3-1.a',
    '1.2.3-1',
  ];
  it('agrees with semver.compare', () => {
    for (const a of versions) {
      for (const b of versions) {
        expect(compareDockerVersions(parseDockerVersion(a), parseDockerVersion(b)), `${a} vs ${b}`).toBe(semver.compare(a, b));
      }
    }
  });

  it('stays exact beyond Number.MAX_SAFE_INTEGER', () => {
    const a = parseDockerVersion('9007199254740993.0.0');
    const b = parseDockerVersion('9007199254740992.0.0');
    expect(a.major).toBe(b.major); // the number fields collapse...
    expect(compareDockerVersions(a, b)).toBe(1); // ...the ordering does not
  });
});

describe('checkEngineVersion', () => {
  it('accepts current docker and podman', () => {
    const docker = checkEngineVersion({ engine: 'docker', version: '27.5.1, build 9f9e405' });
    expect(docker).toEqual({ ok: true, version: parseDockerVersion('27.5.1') });
    expect(checkEngineVersion({ engine: 'docker', version: '18.03.0-ce' }).ok).toBe(true);
    expect(checkEngineVersion({ engine: 'docker', version: '1.13.1' }).ok).toBe(true);
    expect(checkEngineVersion({ engine: 'podman', version: '4.3.1' }).ok).toBe(true);
    expect(checkEngineVersion({ engine: 'podman', version: '5.2.0-dev' }).ok).toBe(true);
  });

  it("rejects an old docker with upstream's message", () => {
    expect(checkEngineVersion({ engine: 'docker', version: '1.11.2' })).toEqual({
      ok: false,
      message: 'Your version of docker: 1.11.2\ndoes not meet the requirements: ~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0',
    });
    // The normalized text is reported, not the raw input.
    expect(checkEngineVersion({ engine: 'docker', version: '17.00.0-ce, build 1' })).toEqual({
      ok: false,
      message: 'Your version of docker: 17.0.0-ce\ndoes not meet the requirements: ~> 1.12 or ~> 1.12.0-rc2 or >= 17.0.0',
    });
  });

  it('rejects an old podman against PODMAN_REQUIREMENT', () => {
    expect(checkEngineVersion({ engine: 'podman', version: '3.4.4' })).toEqual({
      ok: false,
      message: 'Your version of podman: 3.4.4\ndoes not meet the requirements: >= 4.0.0',
    });
    expect(checkEngineVersion({ engine: 'podman', version: '4.0.0-rc1' })).toMatchObject({ ok: false });
  });

  it('explains an unparsable version with a hint', () => {
    const docker = checkEngineVersion({ engine: 'docker', version: 'v1.2.3' });
    expect(docker.ok).toBe(false);
    if (docker.ok) return;
    const [first, ...hint] = docker.message.split('\n');
    expect(first).toBe('cannot parse docker version "v1.2.3": expected MAJOR.MINOR.PATCH (optionally -pre and +build)');
    expect(hint.join('\n')).toMatch(/^hint: .*docker version/);

    const podman = checkEngineVersion({ engine: 'podman', version: 'abc' });
    expect(podman.ok).toBe(false);
    if (podman.ok) return;
    expect(podman.message.startsWith('cannot parse podman version "abc": expected MAJOR.MINOR.PATCH')).toBe(true);
    expect(podman.message).toContain('\nhint: ');
  });
});

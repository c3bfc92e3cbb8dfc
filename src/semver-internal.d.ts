// Types for the two modules of semver's internals that docker-version.ts
// imports directly (the token sources of its SemVer grammar, and its
// identifier order; both also exported, untyped, by semver's index):
// importing them rather than the index keeps the rest of semver out of the
// sidecar's preflight chunk (about 4 ms of import per build start).
declare module 'semver/internal/re.js' {
  const re: {
    /** Regular expression sources, indexed by token. */
    src: string[];
    /** Token name -> index, e.g. t.MAINVERSION. */
    t: Record<string, number>;
  };
  export default re;
}

declare module 'semver/internal/identifiers.js' {
  const identifiers: {
    /** Numeric identifiers before alphanumeric ones, numbers by value, strings by code unit. */
    compareIdentifiers(a: string, b: string): -1 | 0 | 1;
  };
  export default identifiers;
}

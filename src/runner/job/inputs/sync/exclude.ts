// Which paths of a tree are not sent: a gitignore-like subset.
//   name       a path component anywhere in the tree ("_build", "*.o")
//   /path      anchored at the tree's root ("/buildroot-*", "/a/b")
//   a/b        a pattern with a "/" inside is anchored too (as in gitignore)
//   name/      a trailing "/" matches directories only
//   * and ?    any run of characters / one character within a component
// Nothing else is special: no "**", no "[...]", no "!" negation. An excluded
// directory is not entered, so everything below it is left out too. Empty
// patterns and "#" comments are ignored.
import { OpError } from '../../../../errors.js';

export interface ExcludeRules {
  /** True when the path (relative, "/"-separated, never ".") is excluded. */
  excludes(path: string, isDir: boolean): boolean;
}

interface Rule {
  anchored: boolean;
  dirOnly: boolean;
  parts: RegExp[];
}

function glob(component: string): RegExp {
  const body = component
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

function compile(pattern: string): Rule | null {
  if (pattern === '' || pattern.startsWith('#')) return null;
  let p = pattern;
  const dirOnly = p.endsWith('/');
  if (dirOnly) p = p.slice(0, -1);
  const anchored = p.startsWith('/') || p.includes('/');
  if (p.startsWith('/')) p = p.slice(1);
  const parts = p.split('/');
  if (p === '' || parts.some((c) => c === '' || c === '.' || c === '..' || c.includes('**'))) {
    throw new OpError(
      'invalid_spec',
      `inputs_exclude: cannot use the pattern ${JSON.stringify(pattern)}`,
      'Use "name", "/path/from/root", "dir/" and * ? within a component (no "**", "." or ".." components).',
    );
  }
  return { anchored, dirOnly, parts: parts.map(glob) };
}

export function compileExcludes(patterns: readonly string[]): ExcludeRules {
  const rules = patterns.map(compile).filter((r): r is Rule => r !== null);
  const byName = rules.filter((r) => !r.anchored);
  const anchored = rules.filter((r) => r.anchored);
  return {
    // Called for every path of a tree: the name is cut out without splitting the path unless an anchored rule needs it.
    excludes(path, isDir) {
      const name = path.slice(path.lastIndexOf('/') + 1);
      for (const r of byName) if ((!r.dirOnly || isDir) && r.parts[0]!.test(name)) return true;
      if (anchored.length === 0) return false;
      const components = path.split('/');
      for (const r of anchored) {
        if (r.dirOnly && !isDir) continue;
        if (r.parts.length === components.length && r.parts.every((re, i) => re.test(components[i]!))) return true;
      }
      return false;
    },
  };
}

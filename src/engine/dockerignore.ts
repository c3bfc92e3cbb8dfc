// .dockerignore: which files of a build context are sent to the engine.
// Patterns as Docker reads them: one per line, # comments, paths relative to
// the context root, * ? and [..] within a path element, ** across elements,
// ! to re-include, the last matching pattern wins, and a pattern that
// matches a directory matches everything below it.
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';

interface Rule {
  negate: boolean;
  re: RegExp;
}

function toRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        // "**/" matches zero or more directories; a trailing "**" matches everything.
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let body = pattern.slice(i + 1, end);
        if (body.startsWith('^') || body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

export function parseDockerignore(text: string): Rule[] {
  const rules: Rule[] = [];
  for (let line of text.split(/\r?\n/)) {
    line = line.trim();
    if (line === '' || line.startsWith('#')) continue;
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1).trim();
    }
    let clean = posix.normalize(line.replace(/^\/+/, ''));
    if (clean.endsWith('/')) clean = clean.slice(0, -1);
    if (clean === '.' || clean === '') continue;
    rules.push({ negate, re: toRegExp(clean) });
  }
  return rules;
}

/** True when the context-relative path (posix separators) is excluded. */
export function isIgnored(rules: Rule[], relPath: string): boolean {
  let ignored = false;
  const parts = relPath.split('/');
  for (const rule of rules) {
    // The path itself, or any parent directory of it, may match.
    let hit = false;
    for (let n = parts.length; n >= 1 && !hit; n--) hit = rule.re.test(parts.slice(0, n).join('/'));
    if (hit) ignored = !rule.negate;
  }
  return ignored;
}

export async function loadDockerignore(contextDir: string): Promise<Rule[]> {
  try {
    return parseDockerignore(await readFile(join(contextDir, '.dockerignore'), 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

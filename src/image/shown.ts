// How an option and its bad value are shown in an error (no imports: the CLI loads it before any builder).

/** An option's flag name without its dashes: nixpkgs' camelCase in kebab-case (copyToRoot: copy-to-root). */
export const kebab = (option: string): string => option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** A value as an error shows it: its JSON (shortened) and what it is. */
export function shown(v: unknown): string {
  const kind =
    v === null
      ? 'null'
      : Array.isArray(v)
        ? 'a list'
        : typeof v === 'object'
          ? 'an object'
          : typeof v === 'string'
            ? 'a string'
            : typeof v === 'number'
              ? Number.isInteger(v)
                ? 'an integer'
                : 'a number'
              : typeof v === 'boolean'
                ? 'a boolean'
                : typeof v;
  const json = v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v));
  const text = json.length > 60 ? `${json.slice(0, 57)}...` : json;
  return kind === 'null' ? 'null' : `${text}, ${kind}`;
}

// The TERM of the system shell: the host's, when the build image has a
// terminfo entry for it; else the first of xterm-256color, xterm, vt100 that
// it has (a build image often lacks tmux-256color, screen-*, kitty...: bash's
// readline and full-screen programs then draw as on a dumb terminal). One
// exec of /bin/sh looks for the entries' files where ncurses looks
// ($TERMINFO, ~/.terminfo, $TERMINFO_DIRS, /etc/terminfo, /lib/terminfo,
// /usr/share/terminfo, /usr/lib/terminfo; first-letter and hex directories).
import type Docker from 'dockerode';
import { runPlain } from './exec.js';

/** Tried in this order when the image lacks the host's TERM. */
export const FALLBACK_TERMS = ['xterm-256color', 'xterm', 'vt100'] as const;
/**
 * Without any terminfo in the image: readline works without it (its own
 * dumb mode) whatever TERM says; xterm-256color is what programs with
 * built-in tables know (vim's builtin xterm, dircolors' TERM list) and what
 * every terminal emulator (xterm, VTE, tmux, screen, kitty) understands,
 * where a name they do not know (tmux-256color) or dumb turns colour off.
 */
export const NO_TERMINFO_TERM = 'xterm-256color';

// $1.. the names in order. Prints "found NAME", or "missing" (a terminfo
// database without any of them), or "none" (no terminfo database at all:
// no such directory holds anything).
const PROBE = `db=
nonempty() { for f in "$1"/*; do [ -e "$f" ] && return 0; done; return 1; }
for d in "\${TERMINFO:-}" "$HOME/.terminfo" $(printf %s "\${TERMINFO_DIRS:-}" | tr : ' ') /etc/terminfo /lib/terminfo /usr/share/terminfo /usr/lib/terminfo; do
  [ -n "$d" ] && nonempty "$d" && db="$db $d"
done
[ -n "$db" ] || { echo none; exit 0; }
for t in "$@"; do
  c=\${t%"\${t#?}"}
  x=$(printf %x "'$c")
  for d in $db; do
    if [ -e "$d/$c/$t" ] || [ -e "$d/$x/$t" ]; then echo "found $t"; exit 0; fi
  done
done
echo missing`;

export interface TermChoice {
  term: string;
  /** Why it differs from the host's (for NERVES_DEBUG), or null when it is the host's. */
  note: string | null;
}

/** The TERM for a shell in `container` whose user's terminal is `wanted`. */
export async function chooseTerm(
  container: Docker.Container,
  wanted: string,
  workingDir: string,
  entrypoint: string[] = [],
): Promise<TermChoice> {
  if (!wanted || wanted === 'dumb' || !/^[A-Za-z0-9._+-]+$/.test(wanted)) return { term: wanted, note: null };
  const names = [wanted, ...FALLBACK_TERMS.filter((t) => t !== wanted)];
  const pieces: Buffer[] = [];
  let status: number;
  try {
    status = await runPlain(container, { cmd: [...entrypoint, '/bin/sh', '-c', PROBE, 'sh', ...names], workingDir }, (stream, data) => {
      if (stream === 'stdout') pieces.push(Buffer.from(data));
    });
  } catch (err) {
    return { term: wanted, note: `could not look for terminfo in the build image (${(err as Error).message}); TERM=${wanted} kept` };
  }
  // Decoded once whole: a piece may end inside a character.
  const line = Buffer.concat(pieces).toString().trim().split('\n').at(-1) ?? '';
  if (status !== 0 || line === '')
    return { term: wanted, note: `could not look for terminfo in the build image (status ${status}); TERM=${wanted} kept` };
  if (line === `found ${wanted}`) return { term: wanted, note: null };
  if (line.startsWith('found ')) {
    const term = line.slice('found '.length);
    return { term, note: `the build image has no terminfo entry for TERM=${wanted}; the shell uses TERM=${term}` };
  }
  if (line === 'none') {
    return {
      term: NO_TERMINFO_TERM,
      note: `the build image has no terminfo at all; the shell uses TERM=${NO_TERMINFO_TERM} (known to programs with built-in tables) instead of TERM=${wanted}`,
    };
  }
  return { term: wanted, note: `the build image has none of the terminfo entries ${names.join(', ')}; TERM=${wanted} kept` };
}

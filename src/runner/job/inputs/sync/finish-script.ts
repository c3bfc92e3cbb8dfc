// What `finish` does, run once as root in the started container: removes the
// paths gone from the host, sets the metadata of files whose content did not
// change, sets back the mtime of the directories the removals changed, then
// marks the sync done. The work is a list (the ops file, sent in the
// archive); the script reads it with the shell and coreutils only (sh, rm,
// chown, chmod, touch, mv), and touches nothing through a symlink: each
// path's directory must resolve (cd -P) to where it is expected, else the
// path is left alone and the script fails, leaving the state "finishing" so
// that the next sync sees those paths as unknown.
import type { ManifestEntry } from './types.js';
import { OPS_FILE, STATE_DIR, STATE_FILE } from './layout.js';

/** A path as one shell word for `printf %b`: bytes outside a safe set as \0ooo. */
export function escapePath(p: string): string {
  let out = '';
  for (const b of Buffer.from(p, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._/+,=:@%-]/.test(c) ? c : `\\0${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

const at = (mtime: string) => `@${mtime}`;

/** The ops file: D (remove), F (set metadata), T (set a directory's mtime), in that order. */
export function opsFile(deletes: string[], fixups: ManifestEntry[], touch: ManifestEntry[]): Buffer {
  const lines = [
    ...deletes.map((p) => `D ${escapePath(p)}`),
    ...fixups.map((e) => `F ${e.mode.toString(8)} ${e.uid} ${e.gid} ${at(e.mtime)} ${e.type} ${escapePath(e.path)}`),
    ...touch.map((e) => `T ${at(e.mtime)} ${escapePath(e.path)}`),
  ];
  return Buffer.from(lines.map((l) => `${l}\n`).join(''));
}

const SCRIPT = `set -u
root=$1 gen=$2 dir=$1/${STATE_DIR} fail=0
read -r st g < "$dir/${STATE_FILE}" || exit 3
if [ "$st $g" != "finishing $gen" ]; then echo "ndt-sync: $root is not waiting to finish $gen (state: $st $g)" >&2; exit 3; fi
rr=$(cd -P -- "$root" && pwd -P) || exit 3
dec() { p=$(printf '%bx' "$1"); p=\${p%x}; }
safe() {
  case $p in */*) q=\${p%/*} ;; *) return 0 ;; esac
  r=$(cd -P -- "$root/$q" 2>/dev/null && pwd -P; echo x)
  [ "$r" = "$rr/$q
x" ] && return 0
  echo "ndt-sync: left alone (its directory is not where expected): $p" >&2; fail=1; return 1
}
while read -r op a b c d e f; do
  case $op in
    D) dec "$a"; safe && { rm -rf -- "$root/$p" || fail=1; } ;;
    F) dec "$f"; safe && { chown -h "$b:$c" -- "$root/$p" && { [ "$e" = l ] || chmod "$a" -- "$root/$p"; } && touch -h -d "$d" -- "$root/$p" || fail=1; } ;;
    T) dec "$b"; safe && { touch -h -d "$a" -- "$root/$p" || fail=1; } ;;
  esac
done < "$dir/${OPS_FILE}"
[ "$fail" = 0 ] || exit 4
printf 'done %s\\n' "$gen" > "$dir/${STATE_FILE}.new" && mv -f -- "$dir/${STATE_FILE}.new" "$dir/${STATE_FILE}"
`;

/** The argv of `finish` for generation `gen` of the volume mounted at `root`. */
export function finishCommand(root: string, gen: string): string[] {
  return ['sh', '-c', SCRIPT, 'ndt-sync-finish', root, gen];
}

// Before anything is sent: every directory of the tree could be walked and
// every file the sync is about to send can be read by this user. Otherwise
// one `input_path` error names them all (not the first alone, one rerun per
// file) and says what to do: fix the permissions or exclude them. Nothing is
// sent then, so the volume is left as it was. Only the files to send are
// checked: one unchanged since the last copy is not read. The scan's mode
// and owner settle most of them; access() asks the kernel only about a file
// they do not let this user read (root's capabilities, an ACL may). A file
// refused despite its mode (an ACL) is caught as it is read (send.ts).
import { accessSync, constants } from 'node:fs';
import { OpError } from '../../../../errors.js';
import { isDenied, namedPaths, shownPath, whoIsDenied } from '../../../../image/unreadable.js';
import type { Plan } from './plan.js';
import type { HostTree } from './scan.js';
import type { ManifestEntry } from './types.js';

/** Throws when a directory was not walked or a file to send cannot be read. */
export function checkReadable(hostDir: string, host: HostTree, plan: Plan): void {
  const denied = [...host.denied];
  const prefix = hostDir.endsWith('/') ? hostDir : `${hostDir}/`;
  const readable = byMode();
  host.entries.forEach((e, i) => {
    if (!plan.send[i] || e.type !== 'f' || readable(e)) return;
    try {
      accessSync(prefix + e.path, constants.R_OK);
    } catch (err) {
      if (isDenied(err)) denied.push({ path: e.path, denied: 'read' });
      // Anything else (gone since the scan) is the send's to report, as it is read.
    }
  });
  if (denied.length === 0) return;
  throw unreadablePaths(hostDir, denied);
}

/** Whether a file's mode lets this process read it (owner, else group, else other bits), without a system call; always false where there are no uids. */
function byMode(): (e: ManifestEntry) => boolean {
  const uid = process.geteuid?.();
  if (uid === undefined) return () => false;
  const groups = new Set([process.getegid!(), ...(process.getgroups?.() ?? [])]);
  return (e) => {
    if (e.uid === uid) return (e.mode & 0o400) !== 0;
    if (groups.has(e.gid)) return (e.mode & 0o040) !== 0;
    return (e.mode & 0o004) !== 0;
  };
}

function unreadablePaths(hostDir: string, denied: HostTree['denied']): OpError {
  const { what, them, list } = namedPaths(denied);
  const patterns = denied
    .filter((d) => d.path !== '.')
    .slice(0, 3)
    .map((d) => JSON.stringify(`/${shownPath(d)}`));
  const exclude = patterns.length > 0 ? `, or leave ${them} out with build_runner_opts inputs_exclude (e.g. [${patterns.join(', ')}])` : '';
  return new OpError(
    'input_path',
    `${whoIsDenied()} cannot read ${what} in ${hostDir}, which the build copies to the engine: ${list}`,
    `Make ${them} readable (chmod -R u+rX, chown)${exclude}; rerunning as it is does not help.`,
  );
}

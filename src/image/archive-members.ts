// The members of an image archive (docker-archive or oci-archive) by name.
// `docker save` writes a layer shared by two images of the archive (or used
// twice by one image) once, and the other <id>/layer.tar as a symlink to it
// (`../<id>/layer.tar`); hard links can appear in archives repacked by other
// tools. Links are followed within the archive only: a link whose target
// leaves it (absolute, or `..` above its root) or does not exist is refused.
import { posix } from 'node:path';
import type { TarReadEntry } from './tar-reader.js';
import { OpError } from '../errors.js';

const MAX_LINKS = 16;
const HINT = "The archive's links must point to other files of the same archive: make it again (`docker save`, `nix build`).";

/** The archive-relative name a link entry points to, or undefined when it leaves the archive. */
function linkTarget(entry: TarReadEntry): string | undefined {
  const link = entry.linkname;
  if (link === '') return undefined;
  // Hard link names are relative to the archive's root; symlinks to their own directory.
  const joined =
    entry.type === 'hardlink'
      ? link.replace(/^(\.\/)+/, '')
      : posix.isAbsolute(link)
        ? undefined
        : posix.join(posix.dirname(entry.name), link);
  if (joined === undefined) return undefined;
  const norm = posix.normalize(joined);
  return norm === '..' || norm.startsWith('../') || posix.isAbsolute(norm) ? undefined : norm.replace(/\/+$/, '');
}

/** The regular-file entry `name` stands for, links followed; undefined when there is no such member. */
export function resolveMember(members: Map<string, TarReadEntry>, name: string, archive: string): TarReadEntry | undefined {
  let entry = members.get(name);
  for (let hops = 0; entry && (entry.type === 'symlink' || entry.type === 'hardlink'); hops++) {
    if (hops === MAX_LINKS)
      throw new OpError('base_image', `image archive ${archive}: ${name} is a chain of more than ${MAX_LINKS} links`, HINT);
    const target = linkTarget(entry);
    if (target === undefined) {
      throw new OpError('base_image', `image archive ${archive}: ${entry.name} links to ${entry.linkname}, outside the archive`, HINT);
    }
    const next = members.get(target);
    if (!next)
      throw new OpError(
        'base_image',
        `image archive ${archive}: ${entry.name} links to ${entry.linkname}, which the archive does not hold`,
        HINT,
      );
    entry = next;
  }
  return entry;
}

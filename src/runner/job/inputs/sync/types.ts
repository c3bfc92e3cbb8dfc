// The shapes the tree sync works with: its API (target, options, result) and
// one entry of a manifest (what is known of one path of the tree).
import type Docker from 'dockerode';

export interface SyncTarget {
  /** A CREATED (not yet started) container that mounts the target volume at `root`. Docker's archive API works on created containers and writes into their volume mounts. */
  container: Docker.Container;
  /** Absolute path in that container where the volume is mounted, e.g. /nerves/env/platform (not `/`). */
  root: string;
}

export interface SyncProgress {
  sentBytes: number;
  totalBytes: number;
}

export interface SyncOptions {
  /** The tree to send (absolute). */
  hostDir: string;
  /** Patterns of paths not to send (syntax: exclude.ts); /.ndt-sync is always left out. */
  exclude: string[];
  signal?: AbortSignal;
  onProgress?: (p: SyncProgress) => void;
  /**
   * The volume's state files as this machine last left them (host-record.ts).
   * When the tree matches them, the volume's state is not read and the
   * result's `check` says what to verify in the container instead.
   */
  trusted?: Map<string, Buffer> | null | undefined;
}

export interface SyncResult {
  /** Entries in the tree (the root, directories, files, symlinks). */
  files: number;
  /** Files whose content was sent this time, and the bytes of that content. */
  sentFiles: number;
  sentBytes: number;
  /** Bytes of the archive sent (headers and state included); 0 when nothing was sent at all. */
  archiveBytes: number;
  /** Entries removed in the volume (by `finish`). */
  deleted: number;
  /** Files whose content was the same but whose mode, owner or mtime is set by `finish`. */
  fixed: number;
  /** Sockets, FIFOs and devices in the tree: not sent. `skippedPaths` names the first few. */
  skipped: number;
  skippedPaths: string[];
  /** True when the volume's state was unknown and its content was read back to learn it. */
  readBack: boolean;
  /** A command (argv) to run ONCE in the started container as root, before the build's steps, that completes the sync (applies deletions, marks the sync complete); null when nothing is left to do. */
  finish: string[] | null;
  /**
   * Set when `trusted` was taken instead of the volume's state: the file in
   * the container (readable by any user) that must hold `content` before the
   * build uses the volume; if it does not, sync again without `trusted`.
   */
  check: { path: string; content: string } | null;
  /**
   * The volume's state files once this sync (and its `finish`, if any) is
   * done: what to record on this machine; null when `trusted` says exactly
   * that already (nothing new to record).
   */
  record: Map<string, Buffer> | null;
}

/** f: regular file, d: directory, l: symlink, x: anything else (only ever read back from a volume). */
export type EntryType = 'f' | 'd' | 'l' | 'x';

/** What is known of one path of a tree. */
export interface ManifestEntry {
  /** Relative, "/"-separated, no "." or ".." components; "." is the root. */
  path: string;
  type: EntryType;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** "<seconds>.<nine digits of nanoseconds>" since the epoch: exact, and compared as a string. */
  mtime: string;
  /** Size of a file's content; 0 for the rest. */
  size: number;
  /** A symlink's target. */
  link?: string;
  /** A file's sha256 (hex); absent while not known. */
  hash?: string;
}

/** The parent of a manifest path ("." for top-level entries). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '.' : path.slice(0, slash);
}

// A line for the user when the plugin can no longer show one: the Mix plugin
// starts the sidecar with the VM's own stderr on fd 3 (NDT_NOTICE_FD=3), so
// that after the VM is killed mid-build the sidecar can still say what it
// cleaned up.
import { fstatSync, writeSync } from 'node:fs';

export function notice(line: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const fd = Number(env.NDT_NOTICE_FD);
  if (!Number.isInteger(fd) || fd < 3) return false;
  try {
    fstatSync(fd);
    writeSync(fd, `${line}\n`);
    return true;
  } catch {
    return false;
  }
}

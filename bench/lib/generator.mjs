// The OUTPUT_MB generator of examples/platform/mk/system.mk (make-like
// compiler lines, a ">>>" headline every 10,000 lines) as a command of its
// own, and the floor of the exec stream: the engine's own exec of it through
// the docker CLI, its stdout redirected to a file (`docker exec CONTAINER sh
// -c GENERATOR > file`). Kept equal to the make rule's awk program.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { DOCKER } from './common.mjs';

export const GENERATOR_AWK = `BEGIN {
  limit = mb * 1048576; bytes = 0; n = 0
  pad = "-O2 -pipe -fno-strict-aliasing -D_FILE_OFFSET_BITS=64 -DNERVES_MINIATURE"
  while (bytes < limit) {
    if (n % 10000 == 0) {
      line = sprintf(">>> erlang 27.2 Building (output lines %d-%d)", n + 1, n + 10000)
      print line; bytes += length(line) + 1
    }
    n++
    line = sprintf("  CC      erts/emulator/beam/obj%07d.o %s", n, pad)
    print line; bytes += length(line) + 1
  }
}`;

/** argv of the generator in a container (size and program passed as arguments, never spliced into the script). */
export const generatorCmd = (mb) => ['sh', '-c', 'exec awk -v mb="$1" "$2"', 'gen', String(mb), GENERATOR_AWK];

/** The floor: `docker exec CONTAINER sh -c GENERATOR > path` through the docker CLI; resolves to its wall seconds. */
export function floorExec(id, mb, path) {
  return new Promise((res, rej) => {
    const fd = openSync(path, 'w');
    const t0 = performance.now();
    const child = spawn(DOCKER, ['exec', id, ...generatorCmd(mb)], { stdio: ['ignore', fd, 'inherit'] });
    child.on('error', (err) => {
      closeSync(fd);
      rej(err);
    });
    child.on('close', (code) => {
      closeSync(fd);
      if (code !== 0) rej(new Error(`docker exec of the generator exited ${code}`));
      else res((performance.now() - t0) / 1000);
    });
  });
}

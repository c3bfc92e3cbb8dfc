#!/usr/bin/env node
// nerves-docker: the command-line face of the package. Each command lives
// with its concern (runner, image, sidecar); this file only dispatches.
import { packageVersion } from '../version.js';

const USAGE = `usage: nerves-docker <command> [options]

commands:
  build       build a Nerves system artifact from a job spec (as mix nerves.artifact)
  archive     make the artifact archive from an existing build
  clean       delete the build volume, containers and artifact cache
  shell       open the system shell in the build container (as mix nerves.system.shell)
  doctor      check Node, the engine, its version, disk, image, ~/.ssh, UID/GID
  image       the image toolkit: build-image, build-layered-image, pull-image, ...
  sidecar     speak the port protocol on stdin/stdout (what the Mix plugin starts)
  version     print the package version

Run 'nerves-docker <command> --help' for a command's options.

exit codes: 0 ok; 1 failed (a build step, a check); 64 usage; 65 invalid input
(spec, defconfig, platform, paths, image options and inputs); 69 engine
unavailable or too old; 75 another build of the package holds the lock; 130
interrupted.`;

async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
      // A usage error (no command): the usage goes where errors go, stdout stays empty.
      process.stderr.write(USAGE + '\n');
      return 64;
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE + '\n');
      return 0;
    case 'version':
    case '--version':
      process.stdout.write(packageVersion() + '\n');
      return 0;
    case 'build':
    case 'archive':
    case 'clean':
    case 'doctor': {
      const { runRunnerCommand } = await import('./runner.js');
      return runRunnerCommand(cmd, rest);
    }
    case 'shell': {
      const { runShellCommand } = await import('./shell.js');
      return runShellCommand(rest);
    }
    case 'image': {
      const { runImageCommand } = await import('./image.js');
      return runImageCommand(rest);
    }
    case 'sidecar': {
      // What the Mix plugin starts as priv/sidecar.mjs; a chunk this bundle shares with it.
      const { main } = await import('../sidecar/main.js');
      main();
      return -1;
    }
    default:
      process.stderr.write(`nerves-docker: unknown command "${cmd}"\n\n${USAGE}\n`);
      return 64;
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`nerves-docker: ${err.message}\n`);
    process.exitCode = 1;
  },
);

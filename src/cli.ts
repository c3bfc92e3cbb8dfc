#!/usr/bin/env node
// nerves-docker: the command-line face of the package.
import { packageVersion } from './version.js';

const USAGE = `usage: nerves-docker <command> [options]

commands:
  sidecar     speak the port protocol on stdin/stdout (what the Mix plugin starts)
  version     print the package version

Run 'nerves-docker <command> --help' for a command's options.`;

async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE + '\n');
      return cmd === undefined ? 64 : 0;
    case 'version':
    case '--version':
      process.stdout.write(packageVersion() + '\n');
      return 0;
    case 'sidecar': {
      const { main } = await import('./sidecar/main.js');
      main();
      return -1;
    }
    default:
      process.stderr.write(`nerves-docker: unknown command "${cmd}"\n\n${USAGE}\n`);
      void rest;
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

// The dockerode options of an ssh:// engine: through the system ssh client
// when one is on PATH (transport.ts), else docker-modem's built-in ssh2
// client (which knows neither ~/.ssh/config nor identity files: an ssh agent
// only). NERVES_DOCKER_TS_SSH=builtin asks for the built-in client.
import type { Agent } from 'node:http';
import type Docker from 'dockerode';
import { dockerodeOptions, type Endpoint } from '../discovery.js';
import { findSshClient, sshTransport } from './transport.js';

export const SSH_CLIENT_ENV = 'NERVES_DOCKER_TS_SSH';

export interface SshClientChoice {
  options: Docker.DockerOptions & { agent?: Agent };
  /** How the engine is reached, for NERVES_DEBUG=1 and doctor. */
  via: string;
  /** The system ssh client is used (else the built-in one). */
  system: boolean;
}

/** Host name in the requests' URLs; each connection is a new ssh session, never resolved. */
const PLACEHOLDER_HOST = 'docker';

export function sshClientOptions(endpoint: Extract<Endpoint, { kind: 'ssh' }>, env: NodeJS.ProcessEnv = process.env): SshClientChoice {
  const ssh = env[SSH_CLIENT_ENV] === 'builtin' ? null : findSshClient(env);
  if (!ssh) {
    return {
      options: dockerodeOptions(endpoint, env),
      via: `through the built-in ssh2 client (${env[SSH_CLIENT_ENV] === 'builtin' ? `${SSH_CLIENT_ENV}=builtin` : 'no ssh client on PATH'}): it reads no ~/.ssh/config and authenticates through the ssh agent (SSH_AUTH_SOCK) only`,
      system: false,
    };
  }
  const transport = sshTransport(ssh, {
    host: endpoint.host,
    user: endpoint.user,
    port: endpoint.portGiven ? endpoint.port : undefined,
    socketPath: endpoint.socketPath,
  });
  return {
    options: {
      socketPath: undefined,
      host: PLACEHOLDER_HOST,
      port: undefined,
      protocol: 'http',
      ca: undefined,
      cert: undefined,
      key: undefined,
      agent: transport.agent,
    },
    via: transport.describe(),
    system: true,
  };
}

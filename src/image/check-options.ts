// The builders' options checked before any work, each failure an
// image_options error naming the option, the value and what is wanted: the
// image config (Docker's container config fields, with the types docker
// load, skopeo and podman read them as), the layering, the ownership ids.
// The CLI gives the same values from flags or a --spec file; a library
// caller from JavaScript may give anything.
import { OpError } from '../errors.js';
import { checkInput } from './assemble.js';
import { shown } from './shown.js';

export { shown } from './shown.js';

const CONFIG_HINT =
  'Give config (--config) a JSON object with Docker\'s image config fields, e.g. {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "ExposedPorts": {"80/tcp": {}}, "Labels": {"a": "b"}}.';

type FieldCheck = (v: unknown) => string | null;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const string: FieldCheck = (v) => (typeof v === 'string' ? null : 'a string');
const boolean: FieldCheck = (v) => (typeof v === 'boolean' ? null : 'true or false');
const integer: FieldCheck = (v) => (Number.isSafeInteger(v) ? null : 'an integer');
const duration: FieldCheck = (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? null : 'an integer of nanoseconds, 0 or more');
const count: FieldCheck = (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? null : 'an integer, 0 or more');
const strings: FieldCheck = (v) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? null : 'a list of strings');
const env: FieldCheck = (v) =>
  Array.isArray(v) && v.every((s) => typeof s === 'string' && /^[^=]+=/.test(s)) ? null : 'a list of "NAME=value" strings';
/** Volumes, ExposedPorts: Go's map[string]struct{}, each value an object ({}). */
const set =
  (key?: { re: RegExp; what: string }): FieldCheck =>
  (v) => {
    const want = `an object of ${key ? `${key.what} ` : ''}keys to {} (e.g. {"${key ? '80/tcp' : '/data'}": {}})`;
    if (!isObject(v)) return want;
    for (const [k, x] of Object.entries(v)) if (!isObject(x) || (key && !key.re.test(k))) return want;
    return null;
  };
const labels: FieldCheck = (v) => (isObject(v) && Object.values(v).every((s) => typeof s === 'string') ? null : 'an object of strings');
const HEALTHCHECK: Record<string, FieldCheck> = {
  test: strings,
  interval: duration,
  timeout: duration,
  startperiod: duration,
  startinterval: duration,
  retries: count,
};

/**
 * Docker's container config fields (moby's container.Config, the image spec's
 * config) and the JSON type each must have; keys lowercased, as Go's JSON
 * decoding matches them whatever their case. Fields not listed pass.
 */
const FIELDS: Record<string, [string, FieldCheck]> = Object.fromEntries(
  (
    [
      ['User', string],
      ['WorkingDir', string],
      ['StopSignal', string],
      ['Hostname', string],
      ['Domainname', string],
      ['Image', string],
      ['MacAddress', string],
      ['Env', env],
      ['Cmd', strings],
      ['Entrypoint', strings],
      ['Shell', strings],
      ['OnBuild', strings],
      ['Volumes', set()],
      ['ExposedPorts', set({ re: /^[0-9]{1,5}(?:\/(?:tcp|udp|sctp))?$/, what: 'PORT or PORT/tcp|udp|sctp' })],
      ['Labels', labels],
      [
        'Healthcheck',
        (v: unknown) => {
          const want = 'an object {"Test": [...], "Interval": ns, "Timeout": ns, "StartPeriod": ns, "Retries": n}';
          if (!isObject(v)) return want;
          for (const [k, x] of Object.entries(v)) {
            const check = HEALTHCHECK[k.toLowerCase()];
            const bad = check && x !== null ? check(x) : null;
            if (bad) return `${want}, its ${k} ${bad}`;
          }
          return null;
        },
      ],
      ['ArgsEscaped', boolean],
      ['AttachStdin', boolean],
      ['AttachStdout', boolean],
      ['AttachStderr', boolean],
      ['Tty', boolean],
      ['OpenStdin', boolean],
      ['StdinOnce', boolean],
      ['NetworkDisabled', boolean],
      ['StopTimeout', integer],
      ['Memory', integer],
      ['MemorySwap', integer],
      ['CpuShares', integer],
    ] as [string, FieldCheck][]
  ).map(([name, check]) => [name.toLowerCase(), [name, check]]),
);

/**
 * The image config (`config`, Docker's capitalised fields): an object, each
 * known field of the type docker load and skopeo decode it as (null is
 * read as absent, as they read it). Unknown fields are kept as given.
 */
export function checkImageConfig(config: unknown): void {
  if (config === undefined) return;
  if (!isObject(config))
    throw new OpError('image_options', `config must be a JSON object of image config fields (got ${shown(config)})`, CONFIG_HINT);
  for (const [key, value] of Object.entries(config)) {
    const field = FIELDS[key.toLowerCase()];
    if (!field || value === null || value === undefined) continue;
    const want = field[1](value);
    if (want) throw new OpError('image_options', `config.${key} must be ${want} (got ${shown(value)})`, CONFIG_HINT);
  }
}

export const LAYERINGS = ['popularity', 'auto', 'size'] as const;

export function checkLayering(layering: unknown): void {
  if (layering === undefined || (LAYERINGS as readonly unknown[]).includes(layering)) return;
  throw new OpError(
    'image_options',
    `layering must be one of ${LAYERINGS.join(', ')} (got ${shown(layering)})`,
    `Set layering (--layering) to ${LAYERINGS.map((l) => `"${l}"`).join(', ')}, or leave it out for popularity.`,
  );
}

/** The highest uid or gid: 2^32 - 2 (2^32 - 1 is (uid_t) -1, "no id", to the kernel). */
export const MAX_ID = 4294967294;

/** A uid or gid: an integer from 0 to MAX_ID. */
export function checkId(option: 'uid' | 'gid', value: unknown): void {
  if (value === undefined || (Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_ID)) return;
  throw new OpError(
    'image_options',
    `${option} must be an integer from 0 to ${MAX_ID} (got ${shown(value)})`,
    `Give ${option} (--${option}) a numeric ${option === 'uid' ? 'user' : 'group'} id from 0 to ${MAX_ID}.`,
  );
}

/** What buildImage, buildLayeredImage and streamLayeredImage check before any work. */
export function checkImageOptions(opts: {
  name: unknown;
  tag?: unknown;
  config?: unknown;
  layering?: unknown;
  uid?: unknown;
  gid?: unknown;
}) {
  checkInput(opts as { name: string; tag?: string });
  checkImageConfig(opts.config);
  checkLayering(opts.layering);
  checkId('uid', opts.uid);
  checkId('gid', opts.gid);
}

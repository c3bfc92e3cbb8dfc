// The image configuration JSON (Docker image spec v1.2 / OCI image config):
// built with a fixed key order so its digest, the image ID, is reproducible.
import { sha256 } from './digest.js';
import type { MeasuredLayer } from './layer.js';

/** Container settings, with Docker's capitalised names (Cmd, Entrypoint, Env, ...). */
export type ImageRuntimeConfig = Record<string, unknown>;

export interface ImageConfigJson {
  architecture: string;
  config: ImageRuntimeConfig;
  created: string;
  history: { created: string; comment?: string; created_by?: string; empty_layer?: boolean }[];
  os: string;
  rootfs: { diff_ids: string[]; type: 'layers' };
  [k: string]: unknown;
}

export function goArch(arch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return map[arch] ?? arch;
}

/** Recursively sort object keys so JSON output does not depend on insertion order. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonical(v);
    }
    return out;
  }
  return value;
}

/** Merge the base image's Env with ours (later wins per variable), as nixpkgs does. */
export function overlayBaseConfig(base: ImageRuntimeConfig | undefined, ours: ImageRuntimeConfig): ImageRuntimeConfig {
  if (!base) return ours;
  const env = [...((base.Env as string[] | undefined) ?? []), ...((ours.Env as string[] | undefined) ?? [])];
  const merged: ImageRuntimeConfig = { ...base, ...ours };
  if (env.length > 0) {
    const byKey = new Map<string, string>();
    for (const e of env) byKey.set(e.split('=', 1)[0]!, e);
    merged.Env = [...byKey.values()];
  }
  return merged;
}

export interface ConfigInput {
  architecture?: string;
  os?: string;
  config: ImageRuntimeConfig;
  created: string;
  layers: MeasuredLayer[];
  baseHistory?: ImageConfigJson['history'];
  baseLayerCount?: number;
}

export function buildConfigJson(input: ConfigInput): { json: Buffer; digest: string; config: ImageConfigJson } {
  // The base image's history is kept as it is; our layers get one entry each.
  const keepBase = input.baseHistory !== undefined;
  const own = keepBase ? input.layers.slice(input.baseLayerCount ?? 0) : input.layers;
  const fullHistory = [...(input.baseHistory ?? []), ...own.map((l) => ({ created: input.created, comment: l.comment }))];
  const config: ImageConfigJson = {
    architecture: input.architecture ?? goArch(),
    config: canonical(input.config) as ImageRuntimeConfig,
    created: input.created,
    history: fullHistory as ImageConfigJson['history'],
    os: input.os ?? 'linux',
    rootfs: { diff_ids: input.layers.map((l) => l.diffId), type: 'layers' },
  };
  const json = Buffer.from(JSON.stringify(config, null, 2) + '\n', 'utf8');
  return { json, digest: sha256(json), config };
}

// Group closure paths into layers. "popularity" (nixpkgs' default): the
// first (available - 1) paths by popularity get a layer each, the rest share
// the last one. "size": the (available - 1) biggest paths get their own
// layers (kept in popularity order), everything else shares one layer.
// "auto" (nixpkgs' newer size-based layering) lives in auto-layering.ts.
import { OpError } from '../errors.js';
import { shown } from './shown.js';

export type LayeringStrategy = 'popularity' | 'size' | 'auto';

export const DEFAULT_MAX_LAYERS = 100;
export const MAX_LAYERS_LIMIT = 125;

/**
 * The layers left for the contents: maxLayers less the base's layers, the
 * `extra` layers (fakeRootCommands', runAsRoot's) and the customisation layer.
 */
export function checkMaxLayers(
  maxLayers: number,
  baseLayers: number,
  extra: { count: number; what: string } = { count: 0, what: '' },
): number {
  if (!Number.isInteger(maxLayers) || maxLayers < 2)
    throw new OpError(
      'image_options',
      `maxLayers must be an integer of at least 2 (got ${shown(maxLayers)})`,
      `Give maxLayers (--max-layers) an integer from 2 to ${MAX_LAYERS_LIMIT}.`,
    );
  if (maxLayers > MAX_LAYERS_LIMIT) {
    throw new OpError(
      'image_options',
      `maxLayers must be at most ${MAX_LAYERS_LIMIT} (got ${maxLayers}): Docker's overlay2 storage driver cannot mount images with more than 127 layers`,
      `Give maxLayers (--max-layers) an integer from 2 to ${MAX_LAYERS_LIMIT}.`,
    );
  }
  const used = baseLayers + extra.count + 1; // base layers, extra layers, the customisation layer
  if (used >= maxLayers) {
    const parts = [
      `fromImage has ${baseLayers} layer${baseLayers === 1 ? '' : 's'}`,
      ...(extra.count > 0 ? [`${extra.what} take${extra.count === 1 ? 's' : ''} ${extra.count === 1 ? 'one' : extra.count}`] : []),
      'the customisation layer takes one',
    ];
    throw new OpError(
      'image_options',
      `maxLayers ${maxLayers} leaves no layer for the contents: ${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`,
      `Raise maxLayers above ${used} (at most ${MAX_LAYERS_LIMIT}), or use a base image with fewer layers.`,
    );
  }
  return maxLayers - used;
}

export function groupLayers(
  ordered: string[],
  available: number,
  strategy: LayeringStrategy = 'popularity',
  sizes?: Map<string, number>,
): string[][] {
  if (ordered.length === 0) return [];
  if (strategy === 'size') {
    const bySize = [...ordered].sort((a, b) => (sizes?.get(b) ?? 0) - (sizes?.get(a) ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
    const own = new Set(bySize.slice(0, available - 1));
    const single = ordered.filter((p) => own.has(p)).map((p) => [p]);
    const rest = ordered.filter((p) => !own.has(p));
    return rest.length > 0 ? [...single, rest] : single;
  }
  const single = ordered.slice(0, available - 1).map((p) => [p]);
  const rest = ordered.slice(available - 1);
  return rest.length > 0 ? [...single, rest] : single;
}

// "auto" layering uses every layer it is allowed: a root that would exceed
// the limit is skipped (a smaller one may fit), and layers still left go to
// the biggest paths sharing one; dependencies still come first.
import { describe, expect, it } from 'vitest';
import { autoLayers } from '../../../src/image/auto-layering.js';

const graph = [
  { path: '/s/aaaa-A', references: ['/s/cccc-C'], narSize: 300 },
  { path: '/s/bbbb-B', references: ['/s/cccc-C'], narSize: 200 },
  { path: '/s/cccc-C', references: [], narSize: 100 },
  { path: '/s/dddd-D', references: [], narSize: 50 },
];

describe('auto layering', () => {
  it('fills the limit when the paths allow it', () => {
    expect(autoLayers(graph, 3)).toEqual([['/s/cccc-C'], ['/s/bbbb-B', '/s/dddd-D'], ['/s/aaaa-A']]);
    expect(autoLayers(graph, 4).length).toBe(4);
    expect(autoLayers(graph, 9).length).toBe(4);
    expect(autoLayers(graph, 1)).toEqual([['/s/aaaa-A', '/s/bbbb-B', '/s/cccc-C', '/s/dddd-D']]);
  });
});

import { describe, expect, it } from 'vitest';
import { packageName, popularityScores, referencesByPopularity, findRoots } from '../../../src/image/popularity.js';
import { groupLayers, checkMaxLayers } from '../../../src/image/layering.js';
import { autoLayers } from '../../../src/image/auto-layering.js';

// The worked example: A->B->C->D->F, C->E->F, B->E, A->G.
const graph = [
  { path: 'A', references: ['A', 'B', 'G'] },
  { path: 'B', references: ['C', 'E'] },
  { path: 'C', references: ['D', 'E'] },
  { path: 'D', references: ['F'] },
  { path: 'E', references: ['F'] },
  { path: 'F', references: ['F'] },
  { path: 'G', references: [] },
];

describe('referencesByPopularity', () => {
  it('scores the worked example A1 B2 C3 D4 E5 F9 G2', () => {
    expect(Object.fromEntries(popularityScores(graph))).toEqual({ A: 1, B: 2, C: 3, D: 4, E: 5, F: 9, G: 2 });
  });

  it('orders by score, ties by name', () => {
    expect(referencesByPopularity(graph)).toEqual(['F', 'E', 'D', 'C', 'B', 'G', 'A']);
  });

  it('finds roots ignoring self references', () => {
    expect(findRoots(graph)).toEqual(['A']);
  });

  it('moves the hash to the end for tie-breaking', () => {
    expect(packageName('/nix/store/zzz-bash-5.2')).toBe('bash-5.2-/nix/store/zzz');
    const tie = [
      { path: '/nix/store/aaa-zlib', references: [] },
      { path: '/nix/store/zzz-bash', references: [] },
    ];
    expect(referencesByPopularity(tie)).toEqual(['/nix/store/zzz-bash', '/nix/store/aaa-zlib']);
  });

  it('survives cycles and appends unreachable paths', () => {
    const cyc = [
      { path: 'X', references: ['Y'] },
      { path: 'Y', references: ['X'] },
    ];
    expect(referencesByPopularity(cyc).sort()).toEqual(['X', 'Y']);
  });
});

describe('layer grouping', () => {
  const ordered = ['F', 'E', 'D', 'C', 'B', 'G', 'A'];
  it('gives the first available-1 paths their own layer', () => {
    // maxLayers 4, no base: 3 available (one is the customisation layer)
    expect(groupLayers(ordered, checkMaxLayers(4, 0))).toEqual([['F'], ['E'], ['D', 'C', 'B', 'G', 'A']]);
    expect(groupLayers(ordered, checkMaxLayers(2, 0))).toEqual([ordered]);
    expect(groupLayers(ordered, checkMaxLayers(100, 0))).toEqual(ordered.map((p) => [p]));
  });

  it('size strategy gives the biggest paths their own layers, in popularity order', () => {
    const sizes = new Map([
      ['A', 100],
      ['F', 1],
      ['G', 50],
    ]);
    expect(groupLayers(ordered, 3, 'size', sizes)).toEqual([['G'], ['A'], ['F', 'E', 'D', 'C', 'B']]);
  });

  it('rejects more than 125 layers clearly', () => {
    expect(() => checkMaxLayers(126, 0)).toThrow(/maxLayers must be at most 125 \(got 126\)/);
    expect(() => checkMaxLayers(1, 0)).toThrow(/at least 2/);
    expect(() => checkMaxLayers(5, 4)).toThrow(/fromImage has 4 layers/);
  });
});

describe('auto (size-based) layering', () => {
  const g = [
    { path: '/s/1-app', references: ['/s/2-libbig'], narSize: 100 },
    { path: '/s/2-libbig', references: ['/s/3-libc'], narSize: 50 },
    { path: '/s/3-libc', references: ['/s/3-libc'], narSize: 10 },
    { path: '/s/4-tool', references: ['/s/3-libc'], narSize: 80 },
  ];
  it('gives big paths their own layers with the dependencies only they use', () => {
    expect(autoLayers(g, 3)).toEqual([['/s/3-libc'], ['/s/4-tool'], ['/s/1-app', '/s/2-libbig']]);
    expect(autoLayers(g, 100)).toEqual([['/s/3-libc'], ['/s/2-libbig'], ['/s/4-tool'], ['/s/1-app']]);
    expect(autoLayers(g, 1)).toEqual([['/s/1-app', '/s/2-libbig', '/s/3-libc', '/s/4-tool']]);
  });
  it('does not depend on the order of the input', () => {
    expect(autoLayers([...g].reverse(), 3)).toEqual(autoLayers(g, 3));
  });
});

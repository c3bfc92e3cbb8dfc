// The maxLayers refusal counts each kind of layer for what it is: a base of
// one layer plus fakeRootCommands is not "fromImage has 2 layers".
import { describe, expect, it } from 'vitest';
import { checkMaxLayers } from '../../../src/image/layering.js';

describe('checkMaxLayers', () => {
  it("names the base's layers, the extra layer and the customisation layer apart", () => {
    expect(() => checkMaxLayers(3, 1, { count: 1, what: 'fakeRootCommands' })).toThrow(
      'maxLayers 3 leaves no layer for the contents: fromImage has 1 layer, fakeRootCommands takes one and the customisation layer takes one',
    );
    expect(() => checkMaxLayers(2, 1)).toThrow('fromImage has 1 layer and the customisation layer takes one');
    expect(checkMaxLayers(4, 1, { count: 1, what: 'fakeRootCommands' })).toBe(1);
  });
});

// The `created` option: ISO dates are checked field by field, so a date that
// Date would roll over (2024-02-30 -> 2024-03-01) is refused, not stored.
import { describe, expect, it } from 'vitest';
import { parseCreated } from '../../../src/image/time.js';
import { OpError } from '../../../src/errors.js';

describe('created', () => {
  it('keeps valid dates, leap days included', () => {
    expect(parseCreated('2024-02-29T12:00:00Z').iso).toBe('2024-02-29T12:00:00Z');
    expect(parseCreated(undefined).iso).toBe('1970-01-01T00:00:01Z');
    expect(parseCreated('2024-03-01').iso).toBe('2024-03-01T00:00:00Z');
  });

  it('refuses days, months and times that do not exist', () => {
    for (const [value, why] of [
      ['2024-02-30T00:00:00Z', 'no day 30 (2024-02 has 29 days)'],
      ['2023-02-29T00:00:00Z', 'no day 29'],
      ['2024-13-01T00:00:00Z', 'no month 13'],
      ['2024-04-31', 'no day 31'],
      ['2024-01-01T24:00:00Z', 'no hour 24'],
      ['yesterday', ''],
    ] as const) {
      let err: unknown;
      try {
        parseCreated(value);
      } catch (e) {
        err = e;
      }
      expect(err, value).toBeInstanceOf(OpError);
      expect(err).toMatchObject({ code: 'image_options' });
      expect((err as OpError).message).toContain(`created: not a date: ${value}`);
      expect((err as OpError).message).toContain(why);
    }
  });
});

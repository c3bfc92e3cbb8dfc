// The `created` option: ISO dates are checked field by field, so a date that
// Date would roll over (2024-02-30 -> 2024-03-01) is refused, not stored; and
// it does not depend on the machine's time zone: an ISO date-time without a
// zone is UTC, as a date alone is, and forms other than ISO 8601 (which Date
// may read as local time) are refused.
import { afterEach, describe, expect, it } from 'vitest';
import { parseCreated } from '../../../src/image/time.js';
import { OpError } from '../../../src/errors.js';

/** What parseCreated throws for `value` (undefined when it takes it). */
function refusal(value: string): unknown {
  try {
    parseCreated(value);
  } catch (e) {
    return e;
  }
  return undefined;
}

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
      const err = refusal(value);
      expect(err, value).toBeInstanceOf(OpError);
      expect(err).toMatchObject({ code: 'image_options' });
      expect((err as OpError).message).toContain(`created: not a date: ${value}`);
      expect((err as OpError).message).toContain(why);
    }
  });
});

const savedTz = process.env.TZ;
afterEach(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

/** 2024-01-01T00:00:00Z in seconds. */
const NEW_YEAR = 1704067200;

describe('created without a zone', () => {
  for (const tz of ['America/New_York', 'Asia/Tokyo']) {
    it(`is UTC with TZ=${tz}`, () => {
      process.env.TZ = tz;
      // The zone is in effect (Node applies TZ when it is set): local midnight is not UTC midnight.
      expect(new Date(2024, 0, 1).getTimezoneOffset()).not.toBe(0);
      expect(parseCreated('2024-01-01T00:00:00')).toEqual({ iso: '2024-01-01T00:00:00Z', epoch: NEW_YEAR });
      expect(parseCreated('2024-01-01 12:00')).toEqual({ iso: '2024-01-01T12:00:00Z', epoch: NEW_YEAR + 12 * 3600 });
      expect(parseCreated('2024-01-01t00:00:00.75')).toEqual({ iso: '2024-01-01T00:00:00Z', epoch: NEW_YEAR });
      expect(parseCreated('2024-01-01').epoch).toBe(NEW_YEAR);
      // Given zones are kept.
      expect(parseCreated('2024-01-01T09:00:00+09:00').epoch).toBe(NEW_YEAR);
      expect(parseCreated('2023-12-31T19:00:00-0500').epoch).toBe(NEW_YEAR);
      expect(parseCreated('2024-01-01T00:00:00z').epoch).toBe(NEW_YEAR);
    });
  }

  it('refuses forms other than ISO 8601, which Date reads in the local zone', () => {
    process.env.TZ = 'Asia/Tokyo';
    for (const value of ['Jan 1, 2024', '2024/01/01 10:00', 'Mon, 01 Jan 2024 00:00:00 GMT']) {
      const err = refusal(value);
      expect(err, value).toBeInstanceOf(OpError);
      expect(err).toMatchObject({
        code: 'image_options',
        message: `created: not a date: ${value} (only ISO 8601 is read: other forms may be local time)`,
      });
    }
  });
});

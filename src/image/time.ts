// The `created` option: an ISO-8601 time, or "now" (which breaks
// reproducibility, as in nixpkgs). The default is 1970-01-01T00:00:01Z.
// A date-time without a zone is UTC, so the image does not depend on the
// machine's time zone.
import { OpError } from '../errors.js';
export const DEFAULT_CREATED = '1970-01-01T00:00:01Z';

export interface Created {
  iso: string;
  /** Seconds since the epoch, used as every file's mtime. */
  epoch: number;
}

const HINT = 'Give created as an ISO 8601 date (1970-01-01T00:00:01Z) or "now".';
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * Refuses dates that Date would roll over (2024-02-30 is not March 1st) and
 * fields out of range.
 */
function checkFields(value: string, m: RegExpExecArray): void {
  const [year, month, day, hour = 0, minute = 0, second = 0] = m
    .slice(1, 7)
    .map((v) => (v === undefined ? undefined : Number(v))) as number[];
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  const why =
    month! < 1 || month! > 12
      ? `month ${month}`
      : day! < 1 || day! > daysInMonth
        ? `day ${day} (${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')} has ${daysInMonth} days)`
        : hour > 23
          ? `hour ${hour}`
          : minute > 59
            ? `minute ${minute}`
            : second > 59
              ? `second ${second}`
              : undefined;
  if (why) throw new OpError('image_options', `created: not a date: ${value} (no ${why})`, HINT);
}

/**
 * The instant an ISO 8601 date names, written out in the one form Date
 * reads the same everywhere (ECMAScript's date-time string with a zone): a
 * date-time without a zone is UTC, as a date alone is. Other forms Date
 * reads ("Jan 1, 2024", "2024/01/01") may be taken as local time: refused.
 */
function parseIso(value: string): Date {
  const m = ISO.exec(value);
  if (!m) throw new OpError('image_options', `created: not a date: ${value} (only ISO 8601 is read: other forms may be local time)`, HINT);
  checkFields(value, m);
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', zone = 'Z'] = m;
  const offset = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  return new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}${fraction.slice(0, 4)}${offset}`);
}

export function parseCreated(created: string | undefined): Created {
  const value = created ?? DEFAULT_CREATED;
  const d = value === 'now' ? new Date(Math.floor(Date.now() / 1000) * 1000) : parseIso(value);
  if (Number.isNaN(d.getTime())) throw new OpError('image_options', `created: not a date: ${value}`, HINT);
  const epoch = Math.floor(d.getTime() / 1000);
  return { iso: new Date(epoch * 1000).toISOString().replace('.000Z', 'Z'), epoch };
}

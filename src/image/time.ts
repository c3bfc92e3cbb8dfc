// The `created` option: an ISO-8601 time, or "now" (which breaks
// reproducibility, as in nixpkgs). The default is 1970-01-01T00:00:01Z.
import { OpError } from "../errors.js";
export const DEFAULT_CREATED = "1970-01-01T00:00:01Z";

export interface Created {
  iso: string;
  /** Seconds since the epoch, used as every file's mtime. */
  epoch: number;
}

export function parseCreated(created: string | undefined): Created {
  const value = created ?? DEFAULT_CREATED;
  const d = value === "now" ? new Date(Math.floor(Date.now() / 1000) * 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) throw new OpError("image_options", `created: not a date: ${value}`, "Give created as an ISO 8601 date (1970-01-01T00:00:01Z) or \"now\".");
  const epoch = Math.floor(d.getTime() / 1000);
  return { iso: new Date(epoch * 1000).toISOString().replace(".000Z", "Z"), epoch };
}

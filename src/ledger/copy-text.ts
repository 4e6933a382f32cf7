/**
 * Rows in Postgres's COPY text format: one line per row, fields separated by tabs, `\N` for NULL,
 * and backslash, newline, carriage return and tab escaped with a backslash. COPY is the cheapest
 * way into Postgres: the server parses each field once, straight into its column type.
 */

export type CopyValue = string | number | null;

const NEEDS_ESCAPE = /[\\\n\r\t]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One field: text escaped, numbers as written, null as `\N`. */
export function copyField(value: CopyValue): string {
  if (value === null) return '\\N';
  if (typeof value === 'number') return String(value);
  return NEEDS_ESCAPE.test(value) ? value.replace(/[\\\n\r\t]/g, (ch) => ESCAPES[ch]!) : value;
}

/**
 * A value for a json or jsonb column. JSON.stringify escapes every control character itself, so
 * its output can hold only one character COPY treats specially: the backslash.
 */
export function copyJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes('\\') ? text.replaceAll('\\', '\\\\') : text;
}

/** A row's fields, already formatted, as one line. */
export function copyLine(fields: string[]): string {
  return `${fields.join('\t')}\n`;
}

/**
 * Nanoseconds since the Unix epoch (a decimal string of at most 20 digits) as a timestamptz
 * literal, exact to the microsecond like Postgres itself (the nanoseconds below are dropped, not
 * rounded). Seconds since the epoch fit a double exactly for any int64 of nanoseconds.
 * Only the date goes through `Date`, and a delivery's spans, like most traffic, share their day:
 * its text is kept (a span's start and end often fall in different seconds, so keeping the
 * second's text missed every other call).
 */
export function nanosToTimestamptz(nanos: string): string {
  const digits = nanos.padStart(10, '0');
  const seconds = Number(digits.slice(0, -9));
  const day = Math.floor(seconds / SECONDS_A_DAY);
  if (day !== lastDay.day) {
    lastDay.day = day;
    lastDay.iso = new Date(day * SECONDS_A_DAY * 1000).toISOString().slice(0, 11);
  }
  const inDay = seconds - day * SECONDS_A_DAY;
  return `${lastDay.iso}${twoDigits(Math.floor(inDay / 3600))}:${twoDigits(Math.floor(inDay / 60) % 60)}:${twoDigits(inDay % 60)}.${digits.slice(-9, -3)}+00`;
}

const SECONDS_A_DAY = 86_400;
const lastDay = { day: Number.NaN, iso: '' };
const twoDigits = (n: number): string => (n < 10 ? `0${n}` : String(n));

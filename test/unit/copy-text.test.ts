import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyField, copyJson, copyLine, nanosToTimestamptz } from '../../src/ledger/copy-text.js';

describe('COPY text format', () => {
  it('escapes exactly the characters COPY treats specially', () => {
    expect(copyField('plain text, "quotes" and ümlauts')).toBe('plain text, "quotes" and ümlauts');
    expect(copyField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyField('\\N')).toBe('\\\\N');
    expect(copyField(null)).toBe('\\N');
    expect(copyField(42)).toBe('42');
  });

  it('writes JSON with its backslashes doubled and nothing else changed', () => {
    expect(copyJson({ k: 'line\nbreak "quoted" back\\slash\ttab' })).toBe('{"k":"line\\\\nbreak \\\\"quoted\\\\" back\\\\\\\\slash\\\\ttab"}');
    expect(copyJson([1, null, true])).toBe('[1,null,true]');
    expect(copyLine(['1', '\\N', 'x'])).toBe('1\t\\N\tx\n');
  });

  it('turns nanoseconds into a timestamp exact to the microsecond, truncating like Postgres', () => {
    expect(nanosToTimestamptz('0')).toBe('1970-01-01T00:00:00.000000+00');
    expect(nanosToTimestamptz('999')).toBe('1970-01-01T00:00:00.000000+00');
    expect(nanosToTimestamptz('1234567')).toBe('1970-01-01T00:00:00.001234+00');
    expect(nanosToTimestamptz('1790000002443123999')).toBe('2026-09-21T14:13:22.443123+00');
    expect(nanosToTimestamptz('9223372036854775807')).toBe('2262-04-11T23:47:16.854775+00');
    // The same day again (its text is reused), then another day.
    expect(nanosToTimestamptz('9223372036000000001')).toBe('2262-04-11T23:47:16.000000+00');
    expect(nanosToTimestamptz('9223372035999999999')).toBe('2262-04-11T23:47:15.999999+00');
    expect(nanosToTimestamptz('1234567')).toBe('1970-01-01T00:00:00.001234+00');
  });

  it('agrees with Date for any unsigned 64-bit time, in any order of calls', () => {
    const reference = (nanos: bigint): string => {
      const iso = new Date(Number(nanos / 1_000_000_000n) * 1000).toISOString().slice(0, 19);
      return `${iso}.${String((nanos % 1_000_000_000n) / 1000n).padStart(6, '0')}+00`;
    };
    // Spans of one day mostly, so that calls hit and miss the kept day in turn.
    const oneDay = fc.bigInt({ min: 1_790_000_000_000_000_000n, max: 1_790_086_400_000_000_000n });
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), oneDay), { minLength: 1, maxLength: 20 }), (times) => {
        for (const t of times) expect(nanosToTimestamptz(t.toString())).toBe(reference(t));
      }),
      { numRuns: 2000 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import { ParamError, parseReportParams } from '../../src/reports/report-params.js';

const now = new Date('2026-11-21T12:00:00Z');

describe('report parameters', () => {
  it('defaults to the last 30 days', () => {
    expect(parseReportParams({}, now)).toEqual({ from: new Date('2026-10-22T12:00:00Z'), to: now, by: [] });
  });
  it('reads dates as whole UTC days (to inclusive) and times without an offset as UTC', () => {
    const p = parseReportParams({ from: '2026-11-01', to: '2026-11-02', by: 'day,meta.cost_center' }, now);
    expect(p).toEqual({ from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-11-03T00:00:00Z'), by: ['day', 'meta.cost_center'] });
    expect(parseReportParams({ from: '2026-11-01T06:30:00', to: '2026-11-01T09:00:00+01:00' }, now)).toMatchObject({
      from: new Date('2026-11-01T06:30:00Z'),
      to: new Date('2026-11-01T08:00:00Z'),
    });
  });
  it('refuses a day the calendar does not have rather than rolling it into the next month', () => {
    expect(() => parseReportParams({ from: '2026-02-30' }, now)).toThrow('from: "2026-02-30" is not a UTC date (YYYY-MM-DD) or ISO time');
    expect(() => parseReportParams({ to: '2026-04-31T10:00:00Z' }, now)).toThrow(/^to: /);
    expect(parseReportParams({ from: '2028-02-29', to: '2028-02-29' }, now).to).toEqual(new Date('2028-03-01T00:00:00Z'));
  });
  it('groups by any metadata key a sender may use, spaces and accents included', () => {
    expect(parseReportParams({ by: 'meta.Cost Centre,meta.coût/équipe' }, now).by).toEqual(['meta.Cost Centre', 'meta.coût/équipe']);
  });
  it('takes --last windows', () => {
    expect(parseReportParams({ last: '24h' }, now).from).toEqual(new Date('2026-11-20T12:00:00Z'));
  });
  it('names the parameter that is wrong', () => {
    const cases: [Record<string, string>, string][] = [
      [{ by: 'day,day' }, 'by'],
      [{ by: 'meta.' }, 'by'],
      [{ by: 'meta.a\nb' }, 'by'],
      [{ from: '11/01/2026' }, 'from'],
      [{ to: 'soon' }, 'to'],
      [{ last: '1y' }, 'last'],
      [{ last: '7d', to: '2026-11-01' }, 'last'],
    ];
    for (const [input, param] of cases) {
      expect(() => parseReportParams(input, now), JSON.stringify(input)).toThrow(ParamError);
      try {
        parseReportParams(input, now);
      } catch (err) {
        expect((err as ParamError).param).toBe(param);
      }
    }
  });
});

import { describe, expect, it } from 'vitest';
import { formatTable } from '../../src/reports/table.js';

describe('the plain-text table', () => {
  it('pads columns and right-aligns numbers; no value shows as "-", the footer as given', () => {
    expect(formatTable(['user', 'cost_usd'], [['alice', '1.5'], ['bob', null]], ['TOTAL', '1.5'])).toBe(
      ['user   cost_usd', '-----  --------', 'alice       1.5', 'bob           -', 'TOTAL       1.5'].join('\n'),
    );
  });

  it('shows control characters and bidirectional overrides as escapes, each row on one line', () => {
    const sent = 'a\nb\tc\u001b]0;owned\u0007\u001b[2J\u202eevil\u009b';
    const table = formatTable(['user', 'requests'], [[sent, '1']]);
    expect(table.split('\n')).toHaveLength(3);
    for (const line of table.split('\n')) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    expect(table.split('\n')[2]).toBe('"a\\nb\\tc\\u001b]0;owned\\u0007\\u001b[2J\\u202eevil\\u009b"         1');
  });

  it('tells apart values that would look alike: surrounding spaces, empty, "-" and no value, quotes', () => {
    const values = ['eng', 'eng ', ' eng', 'eng\u00a0', '', '-', null, '"eng"', 'a "b" \\n', 'x\\ny'];
    const lines = formatTable(['cost_center'], values.map((v) => [v])).split('\n').slice(2).map((l) => l.trimEnd());
    expect(lines).toEqual(['eng', '"eng "', '" eng"', '"eng\u00a0"', '""', '"-"', '-', '"\\"eng\\""', 'a "b" \\n', 'x\\ny']);
    expect(new Set(lines).size).toBe(values.length);
  });
});

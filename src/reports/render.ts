import { stringify } from 'csv-stringify/sync';
import { formatTable } from './table.js';
import { spreadsheetText } from './spreadsheet-text.js';
import { METRIC_COLUMNS, type SpendReport } from './spend-report.js';

export type ReportFormat = 'table' | 'csv' | 'json';

function columns(report: SpendReport): string[] {
  return [...report.by, ...METRIC_COLUMNS];
}

/** A readable table with a totals row; no value (no cost reported, no user id) shows as "-". */
export function renderTable(report: SpendReport): string {
  const header = columns(report);
  const rows = report.rows.map((r) => header.map((c) => r[c] ?? null));
  const totals = header.map((c, i) => (i < report.by.length ? (i === 0 ? 'TOTAL' : '') : (report.totals[c] ?? '-')));
  const title = `spend for ${report.org}, ${report.from} to ${report.to}${report.by.length ? ` by ${report.by.join(', ')}` : ''}`;
  return `${title}\n\n${formatTable(header, rows, totals)}`;
}

/**
 * One header line and a line per group; no totals line, so that the file sums cleanly. The groups'
 * names are sender text (user ids, metadata), the metrics numbers.
 */
export function renderCsv(report: SpendReport): string {
  const header = columns(report);
  const row = (r: SpendReport['rows'][number]) => [
    ...report.by.map((c) => spreadsheetText(r[c] ?? null)),
    ...METRIC_COLUMNS.map((c) => r[c] ?? ''),
  ];
  return stringify([header, ...report.rows.map(row)]);
}

export function renderJson(report: SpendReport): string {
  return JSON.stringify(report);
}

export function render(report: SpendReport, format: ReportFormat): string {
  return format === 'table' ? renderTable(report) : format === 'csv' ? renderCsv(report) : renderJson(report);
}

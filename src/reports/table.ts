/**
 * A plain-text table: columns padded, numbers right-aligned, every cell on one line. A null cell
 * shows as "-"; text is shown by `shown`. The footer (a totals line) is written as given.
 */
export function formatTable(header: string[], rows: (string | null)[][], footer?: string[]): string {
  const body = rows.map((r) => r.map((c) => (c === null ? '-' : shown(c))));
  const cells = [header.map(shown), ...body, ...(footer ? [footer] : [])];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map(
    (_, i) => rows.some((r) => r[i] !== null) && rows.every((r) => r[i] === null || /^-?[\d.]+$/.test(r[i]!)),
  );
  const line = (row: string[]) =>
    row.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const [head, ...rest] = cells;
  return [line(head!), line(widths.map((w) => '-'.repeat(w))), ...rest.map(line)].join('\n');
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '"': '\\"', '\\': '\\\\' };
const UNSEEN = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
/** What is escaped inside a quoted cell: the quote and backslash themselves, and what cannot be seen. */
const ESCAPED = new RegExp(`["\\\\]|${UNSEEN.source}`, 'g');

/**
 * Text as a reader can tell it apart. Values come from senders: a user.id holding an escape sequence
 * would act on the reader's terminal (retitle it, clear it, hide text), a newline would break the
 * table's rows, and "eng" and "eng " or "" and no value at all ("-") would look the same. Such text
 * is shown quoted, with escapes; text shown bare never starts with a quote, so it is never mistaken
 * for quoted text.
 */
function shown(text: string): string {
  const plain = text !== '' && text !== '-' && !text.startsWith('"') && !/^\s|\s$/.test(text) && !UNSEEN.test(text);
  if (plain) return text;
  const escaped = text.replace(ESCAPED, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `"${escaped}"`;
}

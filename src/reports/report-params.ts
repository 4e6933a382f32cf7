import { z } from 'zod';

/** Grouping dimensions; `meta.<key>` groups by any `trace.metadata.<key>`. */
export const FIXED_DIMENSIONS = ['day', 'week', 'month', 'model', 'provider', 'user', 'session', 'api_key'] as const;
export type Dimension = (typeof FIXED_DIMENSIONS)[number] | `meta.${string}`;

// A metadata key is the sender's own ("Cost Centre", "coût"): any text but a comma (it separates
// dimensions) or a control character. It reaches SQL only as a bound parameter.
const META = /^meta\.[^\p{Cc}]{1,200}$/u;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
// Date.parse rolls 2026-02-30 over to 2 March; a period must be the one the person asked for.
const CALENDAR_DATE = z.iso.date();
const LAST: Record<string, number> = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000, '90d': 90 * 86_400_000 };

/** Thrown for a parameter a person got wrong; the message names it. */
export class ParamError extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(`${param}: ${message}`);
  }
}

const instant = (param: string, endOfDay: boolean) =>
  z
    .string()
    .transform((v, ctx) => {
      // Dates and times without an offset are UTC, whatever the machine's time zone.
      const iso = DATE.test(v) ? `${v}T00:00:00Z` : /(Z|[+-]\d\d:?\d\d)$/i.test(v) ? v : `${v}Z`;
      const ms = Date.parse(iso);
      if (!/^\d{4}-\d{2}-\d{2}(T.*)?$/.test(v) || Number.isNaN(ms) || !CALENDAR_DATE.safeParse(v.slice(0, 10)).success) {
        ctx.addIssue({ code: 'custom', message: `"${v}" is not a UTC date (YYYY-MM-DD) or ISO time`, path: [param] });
        return z.NEVER;
      }
      // A bare --to date includes that whole day.
      return new Date(DATE.test(v) && endOfDay ? ms + 86_400_000 : ms);
    })
    .optional();

const schema = z.object({
  from: instant('from', false),
  to: instant('to', true),
  last: z.enum(Object.keys(LAST) as [string, ...string[]]).optional(),
  by: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const dims = (v ?? '').split(',').map((d) => d.trim()).filter(Boolean);
      for (const d of dims) {
        if (!(FIXED_DIMENSIONS as readonly string[]).includes(d) && !META.test(d)) {
          ctx.addIssue({ code: 'custom', message: `unknown dimension "${d}" (use ${FIXED_DIMENSIONS.join(', ')} or meta.<key>)`, path: ['by'] });
          return z.NEVER;
        }
      }
      if (new Set(dims).size !== dims.length) {
        ctx.addIssue({ code: 'custom', message: 'a dimension is listed twice', path: ['by'] });
        return z.NEVER;
      }
      return dims as Dimension[];
    }),
});

export interface ReportWindow {
  from: Date;
  to: Date;
}

export interface ReportParams extends ReportWindow {
  by: Dimension[];
}

/** Validates report parameters as given on the command line or in a query string. */
export function parseReportParams(input: { from?: string; to?: string; last?: string; by?: string }, now = new Date()): ReportParams {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ParamError(String(issue.path[0] ?? 'parameters'), issue.message);
  }
  const { from, to, last, by } = parsed.data;
  if (last && (from || to)) throw new ParamError('last', 'give either last or from/to, not both');
  const end = last ? now : (to ?? now);
  const start = last ? new Date(now.getTime() - LAST[last]!) : (from ?? new Date(end.getTime() - LAST['30d']!));
  if (start >= end) throw new ParamError('from', `must be before to (${start.toISOString()} ≥ ${end.toISOString()})`);
  return { from: start, to: end, by };
}

import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { KeyVerifier, Principal } from '../auth/verifier.js';
import type { KeyRateLimiter } from '../auth/rate-limit.js';
import type { LedgerDatabase } from '../ledger/database.js';
import { exportStream } from '../reports/exports.js';
import { ParamError, parseReportParams } from '../reports/report-params.js';
import { renderCsv, renderJson } from '../reports/render.js';
import { spendReport } from '../reports/spend-report.js';
import { HttpError } from './errors.js';
import { authorize } from './authorize.js';
import { orUnavailable } from '../ledger/unavailable.js';
import { refuseOtherMethods } from './method-not-allowed.js';

export interface ReadDeps {
  ledger: LedgerDatabase;
  verifier: KeyVerifier;
  limiter: KeyRateLimiter;
}

/** A query string as parsed: a parameter given twice is an array. */
type RawQuery = Record<string, string | string[] | undefined>;
type Query = Record<string, string | undefined>;

const SPEND_PATH = '/developer/v1/ai-usage/spend';
const EXPORT_PATH = '/developer/v1/ai-usage/export';
const SPEND_PARAMS = ['from', 'to', 'last', 'by', 'format', 'org'];
const EXPORT_PARAMS = ['from', 'to', 'last', 'format', 'org'];

/**
 * The known parameters, each once. A mistyped one (`form=…`) would otherwise go unnoticed and the
 * report cover the default period. `by` may be repeated (`by=day&by=model` is `by=day,model`);
 * any other parameter given twice is refused, as neither value is surely the one meant.
 */
function queryParams(raw: RawQuery, known: string[]): Query {
  const q: Query = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!known.includes(name)) throw new ParamError(name, `unknown parameter (use ${known.join(', ')})`);
    if (Array.isArray(value) && name !== 'by') throw new ParamError(name, 'given more than once');
    q[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return q;
}

/** Reports and exports over HTTP, for keys of scope `read`; a key only ever sees its own organisation. */
export function registerReadRoutes(app: FastifyInstance, deps: ReadDeps): void {
  /** The key's principal and the request's parameters: 401/403 before any 400. */
  const authenticate = async (request: FastifyRequest, known: string[]): Promise<{ principal: Principal; q: Query }> => {
    const principal = await authorize(request, deps.verifier, deps.limiter, 'read');
    const q = queryParams(request.query as RawQuery, known);
    if (q.org !== undefined && q.org !== principal.org) {
      throw new HttpError(403, `this key reads organisation "${principal.org}" only`);
    }
    return { principal, q };
  };

  app.get(SPEND_PATH, async (request, reply) => {
    const { principal, q } = await authenticate(request, SPEND_PARAMS);
    const format = q.format ?? 'json';
    if (format !== 'json' && format !== 'csv') throw new ParamError('format', 'must be json or csv');
    const params = parseReportParams(q);
    const report = await orUnavailable('run the report', () =>
      spendReport(deps.ledger.db, { id: principal.orgId, slug: principal.org }, params),
    );
    if (format === 'csv') {
      reply.type('text/csv; charset=utf-8');
      return renderCsv(report);
    }
    reply.type('application/json');
    return renderJson(report);
  });

  app.get(EXPORT_PATH, async (request, reply) => {
    const { principal, q } = await authenticate(request, EXPORT_PARAMS);
    if (q.format !== 'csv' && q.format !== 'focus') throw new ParamError('format', 'must be csv or focus');
    const window = parseReportParams(q);
    reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${principal.org}-${q.format}.csv"`);
    return Readable.from(exportStream(deps.ledger.db, q.format, principal.orgId, window));
  });

  for (const url of [SPEND_PATH, EXPORT_PATH]) {
    refuseOtherMethods(app, url, ['GET', 'HEAD'], 'method not allowed: reports and exports are read with GET');
  }
}

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

export interface ReadDeps {
  ledger: LedgerDatabase;
  verifier: KeyVerifier;
  limiter: KeyRateLimiter;
}

type Query = Record<string, string | undefined>;

/** Reports and exports over HTTP, for keys of scope `read`; a key only ever sees its own organisation. */
export function registerReadRoutes(app: FastifyInstance, deps: ReadDeps): void {
  const authenticate = async (request: FastifyRequest): Promise<Principal> => {
    const principal = await authorize(request, deps.verifier, deps.limiter, 'read');
    const org = (request.query as Query).org;
    if (org !== undefined && org !== principal.org) {
      throw new HttpError(403, `this key reads organisation "${principal.org}" only`);
    }
    return principal;
  };

  app.get('/developer/v1/ai-usage/spend', async (request, reply) => {
    const principal = await authenticate(request);
    const q = request.query as Query;
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

  app.get('/developer/v1/ai-usage/export', async (request, reply) => {
    const principal = await authenticate(request);
    const q = request.query as Query;
    if (q.format !== 'csv' && q.format !== 'focus') throw new ParamError('format', 'must be csv or focus');
    const window = parseReportParams(q);
    reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${principal.org}-${q.format}.csv"`);
    return Readable.from(exportStream(deps.ledger.db, q.format, principal.orgId, window));
  });
}

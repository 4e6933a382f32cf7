import type { FastifyRequest } from 'fastify';
import type { KeyRateLimiter } from '../auth/rate-limit.js';
import type { Scope } from '../auth/key-format.js';
import type { KeyVerifier, Principal } from '../auth/verifier.js';
import { HttpError } from './errors.js';

/** The bearer key of a request, checked for `scope` and for its request rate (401/403/429). */
export async function authorize(
  request: FastifyRequest,
  verifier: KeyVerifier,
  limiter: KeyRateLimiter,
  scope: Scope,
): Promise<Principal> {
  const verdict = await verifier.verify(request.headers.authorization, scope);
  if (!verdict.ok) throw new HttpError(verdict.status, verdict.message);
  const wait = limiter.take(verdict.principal.keyId);
  if (wait > 0) throw new HttpError(429, 'this API key is over its request rate; retry later', wait);
  return verdict.principal;
}

import type { FastifyInstance, HTTPMethods } from 'fastify';
import { HttpError } from './errors.js';

const METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];

/** Answers the other methods on a known path with 405 and `Allow`, not the 404 of an unknown path. */
export function refuseOtherMethods(app: FastifyInstance, url: string, allowed: HTTPMethods[], message: string): void {
  app.route({
    method: METHODS.filter((m) => !allowed.includes(m)),
    url,
    handler: async (_request, reply) => {
      reply.header('allow', allowed.join(', '));
      throw new HttpError(405, message);
    },
  });
}

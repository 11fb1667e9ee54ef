// The OpenAPI 3.1 document at /api/v1/openapi.json, written by @fastify/swagger from the routes' schemas.
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { PROBLEM_SCHEMA } from './schemas.js';

/** Must run before the routes are added: the plugin collects each route's schema as it is registered. */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  app.addSchema(PROBLEM_SCHEMA);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Airlock API', version, description: 'Just-in-time, time-bound, audited access. Errors are application/problem+json with a stable `code`.' },
      servers: [{ url: '/' }],
      security: [{ bearer: [] }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An Airlock access token (alk_…)' } } },
    },
    // Shared schemas keep their names (components/schemas/Problem) instead of def-0, def-1, ….
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
}

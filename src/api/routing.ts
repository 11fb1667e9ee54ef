// Route definitions with zod schemas: one table that both registers the Fastify routes and writes the OpenAPI page.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z, ZodError, type ZodType } from 'zod';
import type { Caller } from '../domain/model.js';
import { AirlockError } from '../domain/errors.js';
import { zodToAirlock } from './problem.js';

export interface RouteContext<B, Q, P> {
  caller: Caller;
  body: B;
  query: Q;
  params: P;
  req: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteDef<B = unknown, Q = unknown, P = unknown> {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  summary: string;
  tag: string;
  body?: ZodType<B>;
  query?: ZodType<Q>;
  params?: ZodType<P>;
  /** false for the few public endpoints (health, OpenAPI). */
  auth?: boolean;
  handler(ctx: RouteContext<B, Q, P>): Promise<unknown>;
}

function parse<T>(schema: ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  try {
    return schema.parse(value ?? {});
  } catch (e) {
    if (e instanceof ZodError) throw zodToAirlock(e, where);
    throw e;
  }
}

export function defineRoutes(app: FastifyInstance, authenticate: (req: FastifyRequest) => Promise<Caller>, routes: RouteDef<any, any, any>[]): void { // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const r of routes) {
    app.route({
      method: r.method,
      url: r.url,
      handler: async function airlockRoute(req, reply) {
        const caller = r.auth === false ? (undefined as unknown as Caller) : await authenticate(req);
        const body = r.method === 'GET' ? undefined : parse(r.body ?? z.strictObject({}), req.body, 'request body');
        const query = parse(r.query, req.query, 'query string');
        const params = parse(r.params, req.params, 'path');
        const out = await r.handler({ caller, body, query, params, req, reply });
        if (reply.sent) return reply;
        return out;
      },
    });
  }
}

function jsonSchema(s: ZodType | undefined): Record<string, unknown> | undefined {
  if (!s) return undefined;
  try {
    return z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  } catch {
    return { type: 'object' };
  }
}

/** The OpenAPI 3.1 document for the routes given. */
export function openApiDocument(routes: RouteDef<any, any, any>[], version: string): Record<string, unknown> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([a-zA-Z_]+)/g, '{$1}');
    const params: unknown[] = [];
    for (const [where, schema] of [['path', r.params], ['query', r.query]] as const) {
      const js = jsonSchema(schema);
      const props = (js?.properties ?? {}) as Record<string, Record<string, unknown>>;
      const required = new Set((js?.required as string[] | undefined) ?? []);
      for (const [name, p] of Object.entries(props)) params.push({ name, in: where, required: where === 'path' || required.has(name), description: p.description, schema: p });
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      ...(r.auth === false ? { security: [] } : {}),
      ...(params.length ? { parameters: params } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
      responses: {
        '200': { description: 'OK' },
        default: { description: 'An error', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Airlock API', version, description: 'Just-in-time, time-bound, audited access. Errors are application/problem+json with a stable `code`.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An Airlock access token (alk_…)' } },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'code', 'detail'],
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, code: { type: 'string' }, detail: { type: 'string', description: 'A sentence that says what happened and what to do' } },
        },
      },
    },
    paths,
  };
}

export function forbidden(message: string): AirlockError {
  return new AirlockError('AIRLOCK_FORBIDDEN', message);
}

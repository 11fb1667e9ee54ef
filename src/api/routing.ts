// Route definitions with zod schemas: one table that registers the Fastify routes and, through their JSON Schemas,
// feeds @fastify/swagger's OpenAPI document. zod checks requests; the JSON Schemas only describe.
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

/** An answer that is not JSON (a file): its media type. */
export interface RawResponse {
  content: string;
  description: string;
}

export type ResponseSpec = ZodType | { readonly [status: number]: ZodType | RawResponse };

export interface RouteDef<B = unknown, Q = unknown, P = unknown> {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  summary: string;
  tag: string;
  body?: ZodType<B>;
  query?: ZodType<Q>;
  params?: ZodType<P>;
  /** The body of a 200 answer, or bodies by status (see schemas.ts). */
  response?: ResponseSpec;
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
      schema: routeSchema(r),
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

/**
 * Requests are checked by zod in the handler (so errors read the same everywhere) and answers are sent as the
 * handlers return them: Fastify's own compilers would check and reshape both from the descriptive JSON Schemas.
 */
export function describeOnly(app: FastifyInstance): void {
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}

export function jsonSchema(s: ZodType, io: 'input' | 'output'): Record<string, unknown> {
  try {
    const { $schema: _, ...js } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
    return js;
  } catch {
    return { type: 'object' };
  }
}

const isZod = (v: unknown): v is ZodType => v instanceof z.ZodType;

function responseSchemas(spec: ResponseSpec | undefined): Record<string, unknown> {
  const byStatus: Record<string, unknown> = {};
  const entries = spec === undefined ? [] : isZod(spec) ? [[200, spec] as const] : Object.entries(spec);
  for (const [status, body] of entries) {
    byStatus[status] = isZod(body)
      ? { description: body.description ?? 'OK', ...jsonSchema(body, 'output') }
      : { description: body.description, content: { [body.content]: { schema: { type: 'string' } } } };
  }
  byStatus.default = { description: 'An error', content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } } };
  return byStatus;
}

/** The route's OpenAPI description, as Fastify route schema that @fastify/swagger reads. */
function routeSchema(r: RouteDef<any, any, any>): Record<string, unknown> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    summary: r.summary,
    tags: [r.tag],
    ...(r.auth === false ? { security: [] } : {}),
    ...(r.params ? { params: jsonSchema(r.params, 'input') } : {}),
    ...(r.query ? { querystring: jsonSchema(r.query, 'input') } : {}),
    ...(r.body ? { body: jsonSchema(r.body, 'input') } : {}),
    response: responseSchemas(r.response),
  };
}

export function forbidden(message: string): AirlockError {
  return new AirlockError('AIRLOCK_FORBIDDEN', message);
}

// Errors as application/problem+json with a sentence a person understands and the stable Airlock code.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { AirlockError, ERRORS } from '../domain/errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  details?: Record<string, unknown>;
  /** The id of the request, also in the server's log line for it (always on a 5xx). */
  request_id?: string;
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') || 'body';
}

export function zodToAirlock(e: ZodError, where: string): AirlockError {
  const parts = e.issues.slice(0, 5).map((i) => {
    if (i.code === 'unrecognized_keys') return `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}${i.path.length ? ` in ${fieldPath(i.path)}` : ''}`;
    return `${fieldPath(i.path)}: ${i.message}`;
  });
  return new AirlockError('AIRLOCK_BAD_INPUT', `The ${where} is not valid: ${parts.join('; ')}.`, { issues: e.issues.map((i) => ({ path: fieldPath(i.path), message: i.message })) });
}

export function toProblem(e: unknown): Problem {
  let err: AirlockError;
  if (e instanceof AirlockError) err = e;
  else if (e instanceof ZodError) err = zodToAirlock(e, 'request');
  else {
    const fe = e as FastifyError;
    if (fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') err = new AirlockError('AIRLOCK_BODY_TOO_LARGE', 'The request body is larger than the API accepts (64 KiB). Send less.');
    else if (fe?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') err = new AirlockError('AIRLOCK_BAD_INPUT', 'Send the body as application/json.');
    else if (fe?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') err = new AirlockError('AIRLOCK_BAD_INPUT', 'The body is empty; send a JSON object.');
    else if (fe?.statusCode === 400 && typeof fe.message === 'string') err = new AirlockError('AIRLOCK_BAD_INPUT', `The request could not be read: ${fe.message}.`);
    else if (fe?.statusCode === 404) err = new AirlockError('AIRLOCK_NOT_FOUND', fe.message);
    else err = new AirlockError('AIRLOCK_INTERNAL', 'Something went wrong inside Airlock. The error was logged with this request\'s request_id; try again, or give your admin the request_id.');
  }
  const spec = ERRORS[err.code];
  return { type: `https://airlock.dev/errors#${err.code}`, title: spec.title, status: spec.status, code: err.code, detail: err.message, ...(err.details ? { details: err.details } : {}) };
}

export function sendProblem(reply: FastifyReply, e: unknown, req?: FastifyRequest): FastifyReply {
  const p = toProblem(e);
  if (req) p.request_id = req.id;
  // The request's child logger carries reqId, the same id the answer carries.
  if (p.status >= 500) req?.log.error({ err: e, code: p.code, method: req.method, url: req.url.split('?')[0] }, 'request failed with a server error');
  return reply.status(p.status).type('application/problem+json').send(p);
}

// API routes for statement reviews: list and read held statements, approve or deny one (the console and the CLI).
import { z } from 'zod';
import { AirlockError } from '../domain/errors.js';
import type { Access } from '../access/access.js';
import type { StatementReview } from '../access/statement-reviews.js';
import type { RouteDef } from './routing.js';

const time = z.string().describe('ISO-8601 UTC time');
const STATUSES = ['pending', 'approved', 'denied', 'timed_out', 'withdrawn', 'executed'] as const;

export const statementReviewRecord = z
  .object({
    id: z.string().describe('rev_…'),
    status: z.enum(STATUSES).describe('pending → approved → executed, or denied, timed_out, withdrawn'),
    principal: z.string().describe('who sent the statement'),
    principal_kind: z.string().optional().describe("'user' or 'agent'"),
    resource: z.string(),
    role: z.string(),
    grant_id: z.string(),
    session_id: z.string().nullable().describe('the gateway session holding the statement'),
    protocol: z.string().describe("'postgres' or 'mysql': the dialect of the text"),
    database: z.string().nullable(),
    statement: z.string().describe('the exact statement text, literals and all: what will run'),
    parameters: z.array(z.string().nullable()).nullable().describe('bound parameters as text (binary ones as \\x hex); null for none'),
    summary: z.object({
      kinds: z.array(z.string()).describe('statement kinds in order, e.g. ["update"]'),
      tables: z.array(z.string()),
      has_where: z.boolean().nullable().describe('for UPDATE/DELETE: whether each has a WHERE; null when there is none'),
      writes: z.boolean(),
    }),
    binding: z.string().describe('SHA-256 of the statement, parameters, grant and policy version: what an approval is bound to'),
    approvals_needed: z.number().int(),
    approvals: z.array(z.object({ reviewer: z.string(), at: time, comment: z.string().nullable() })),
    approver_groups: z.array(z.string()),
    approver_principals: z.array(z.string()).optional(),
    sponsor: z.string().nullable().describe("an agent's sponsor: the person answerable for it"),
    created_at: time,
    expires_at: time.describe('when it times out if nobody decides'),
    decided_at: time.nullable(),
    decided_by: z.string().nullable(),
    comment: z.string().nullable().describe("the reviewer's comment (required on a denial)"),
    executed_at: time.nullable(),
    end_reason: z.string().nullable().optional().describe('why it ended without a decision (withdrawn, timed out)'),
    redacted: z.string().nullable().optional().describe('the statement with its literals replaced, as the audit log has it'),
  })
  .describe('A statement held until a person approves that exact statement') satisfies z.ZodType<StatementReview>;

const id = z.strictObject({ id: z.string().min(1).max(100).describe('the review id, rev_…') });

export function statementReviewRoutes(access: Access): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const sr = access.statementReviews;
  return [
    {
      method: 'GET', url: '/api/v1/statement-reviews', tag: 'reviews', summary: 'Held statements: your own, those you may review, or all (admins and auditors)',
      response: z.object({ reviews: z.array(statementReviewRecord) }),
      query: z.strictObject({
        status: z.enum([...STATUSES, 'all']).optional().describe('only this status (default: all)'),
        principal: z.string().max(100).optional().describe('only statements this principal sent'),
        limit: z.coerce.number().int().min(1).max(1000).default(200),
      }),
      async handler({ caller, query }) {
        const status = query.status === 'all' ? undefined : query.status;
        return { reviews: await sr.list(caller, { status, principal: query.principal, limit: query.limit }) };
      },
    },
    {
      method: 'GET', url: '/api/v1/statement-reviews/:id', tag: 'reviews', summary: 'One held statement, with its exact text and approvals', params: id,
      response: statementReviewRecord,
      async handler({ caller, params }) {
        const r = await sr.get(params.id);
        if (!r) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no statement review ${params.id}. List them with: airlock reviews`);
        if (!access.visibility.canSeeStatementReview(caller, r)) throw new AirlockError('AIRLOCK_FORBIDDEN', `Statement review ${params.id} is not yours and you may not review it.`);
        return r;
      },
    },
    {
      method: 'POST', url: '/api/v1/statement-reviews/:id/approve', tag: 'reviews', summary: 'Approve a held statement (the last approval needed lets it run, once)', params: id,
      response: statementReviewRecord,
      body: z.strictObject({ comment: z.string().max(2000).optional().describe('a note for the record') }),
      handler: ({ caller, params, body }) => sr.approve(caller, params.id, body.comment),
    },
    {
      method: 'POST', url: '/api/v1/statement-reviews/:id/deny', tag: 'reviews', summary: 'Deny a held statement, saying why', params: id,
      response: statementReviewRecord,
      body: z.strictObject({ comment: z.string().max(2000).describe('why; the person who sent the statement reads it') }),
      handler: ({ caller, params, body }) => sr.deny(caller, params.id, body.comment),
    },
  ];
}

// API routes for the access lifecycle: resources, requests, reviews, grants.
import { z } from 'zod';
import { AirlockError } from '../domain/errors.js';
import { parseDuration } from '../domain/duration.js';
import type { AccessRequest, Caller } from '../domain/model.js';
import type { Access } from '../access/access.js';
import { explain } from '../policy/explain.js';
import type { RouteDef } from './routing.js';
import { responses } from './schemas.js';
import { forbidden } from './routing.js';
import { principalDef } from '../policy/statement-review-rule.js';

const id = z.strictObject({ id: z.string().min(1).max(100).describe('the id, e.g. req_… or grt_…') });

const durationInput = z
  .union([z.string().max(32), z.number().int()])
  .describe('how long: "30m", "1h30m", "8h", or a number of seconds')
  .transform((v, ctx) => {
    const s = typeof v === 'number' ? v : parseDuration(v);
    if (s === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration; write e.g. 30m, 1h, 2h30m` });
      return z.NEVER;
    }
    return s;
  });

const newRequest = z.strictObject({
  resource: z.string().min(1).max(100).describe('resource name'),
  role: z.string().min(1).max(100).describe('role name'),
  duration: durationInput,
  reason: z.string().max(2000).default('').describe('why you need access'),
  ticket: z.string().max(200).optional().describe('ticket reference, e.g. OPS-123'),
  break_glass: z.boolean().default(false).describe('emergency access: granted at once, flagged, reviewed afterwards'),
  extends_grant_id: z.string().max(100).optional().describe('the grant this request extends'),
});

/** Admins and auditors see everyone's requests, grants and sessions (the rules: src/access/visibility.ts). */
export function canSeeAll(access: Access, c: Caller): boolean {
  return access.visibility.seesAll(c);
}

export function accessRoutes(access: Access): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Who asks, as approvers need to see it: a person or an agent, and the agent's sponsor. */
  function asked<R extends AccessRequest>(r: R): R & { principal_kind: 'user' | 'agent'; sponsor: string | null } {
    const p = access.policy();
    return { ...r, principal_kind: p.principal(r.principal)?.kind ?? 'user', sponsor: principalDef(p.doc, r.principal)?.sponsor ?? null };
  }
  return [
    {
      method: 'GET', url: '/api/v1/whoami', tag: 'identity', summary: 'Who the token belongs to and what they may do',
      response: responses.whoami,
      async handler({ caller }) {
        const p = access.policy();
        const approverOf = p.roles.filter((r) => p.isApprover(caller.principal, r)).map((r) => r.name);
        const token = caller.token_id ? await access.tokens.byId(caller.token_id) : undefined;
        return { principal: caller.principal, admin: p.isAdmin(caller.principal), auditor: p.isAuditor(caller.principal), approver_of: approverOf, token: token ? { id: token.id, expires_at: token.expires_at } : null };
      },
    },
    {
      method: 'GET', url: '/api/v1/resources', tag: 'access', summary: 'Resources, with the roles the caller may request on each and their limits',
      response: responses.resources,
      async handler({ caller }) {
        const p = access.policy();
        const ex = explain(p, caller.principal.name);
        return {
          resources: p.resources.map((r) => ({
            name: r.name,
            kind: r.kind,
            labels: r.labels,
            description: r.description ?? null,
            roles: ex.entries.filter((e) => e.resource === r.name && e.allowed).map((e) => ({ role: e.role, max_duration: e.max_duration, max_duration_seconds: e.max_duration_seconds, approvals: e.approval.approvals, approvers: e.approval.approvers, justification: e.justification, break_glass: e.break_glass, read_only: e.read_only, auto_approve: e.approval.auto_approve.filter((a) => a.applies_to_principal) })),
          })),
        };
      },
    },
    {
      method: 'POST', url: '/api/v1/requests', tag: 'access', summary: 'Ask for a role on a resource for a duration, with a reason', body: newRequest,
      response: responses.requestCreated,
      async handler({ caller, body, reply }) {
        const b = body as z.infer<typeof newRequest>;
        const r = await access.requests.create(caller, { resource: b.resource, role: b.role, duration_seconds: b.duration, reason: b.reason, ticket: b.ticket, break_glass: b.break_glass, extends_grant_id: b.extends_grant_id });
        reply.status(201);
        return asked(r);
      },
    },
    {
      method: 'GET', url: '/api/v1/requests', tag: 'access', summary: 'Requests: your own, those you may review, or all (admins and auditors)',
      response: responses.requests,
      query: z.strictObject({
        status: z.enum(['pending', 'approved', 'denied', 'cancelled', 'timed_out']).optional(),
        scope: z.enum(['mine', 'reviewable', 'all']).default('mine').describe('mine: yours; reviewable: pending ones you may decide; all: admins and auditors'),
        limit: z.coerce.number().int().min(1).max(1000).default(200),
      }),
      async handler({ caller, query }) {
        if (query.scope === 'reviewable') return { requests: (await access.requests.reviewable(caller)).map(asked) };
        if (query.scope === 'all') {
          if (!canSeeAll(access, caller)) throw forbidden('Only admins and auditors can list all requests; use scope=mine or scope=reviewable.');
          return { requests: (await access.requests.list({ status: query.status, limit: query.limit })).map(asked) };
        }
        return { requests: (await access.requests.list({ principal: caller.principal.name, status: query.status, limit: query.limit })).map(asked) };
      },
    },
    {
      method: 'GET', url: '/api/v1/requests/:id', tag: 'access', summary: 'One request with its reviews', params: id,
      response: responses.requestWithReviews,
      async handler({ caller, params }) {
        const r = await access.requests.get(params.id);
        if (!r || !access.visibility.canSeeRequest(caller, r)) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no request ${params.id} that you can see.`);
        return { ...asked(r), reviews: await access.reviews.forRequest(r.id) };
      },
    },
    {
      method: 'POST', url: '/api/v1/requests/:id/approve', tag: 'reviews', summary: 'Approve a request (the last approval needed creates the grant)', params: id,
      response: responses.reviewOutcome,
      body: z.strictObject({ comment: z.string().max(2000).optional() }),
      handler: ({ caller, params, body }) => access.reviews.approve(caller, params.id, body.comment),
    },
    {
      method: 'POST', url: '/api/v1/requests/:id/deny', tag: 'reviews', summary: 'Deny a request, saying why', params: id,
      response: responses.reviewOutcome,
      body: z.strictObject({ comment: z.string().max(2000).describe('why; the requester reads it') }),
      handler: ({ caller, params, body }) => access.reviews.deny(caller, params.id, body.comment),
    },
    {
      method: 'POST', url: '/api/v1/requests/:id/cancel', tag: 'access', summary: 'Cancel your own pending request', params: id,
      response: responses.request,
      handler: async ({ caller, params }) => asked(await access.requests.cancel(caller, params.id)),
    },
    {
      method: 'GET', url: '/api/v1/grants', tag: 'access', summary: 'Grants: yours, or everyone\'s for admins and auditors',
      response: responses.grants,
      query: z.strictObject({
        active: z.enum(['true', 'false']).optional().describe('only active grants'),
        principal: z.string().max(100).optional(),
        resource: z.string().max(100).optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(200),
      }),
      async handler({ caller, query }) {
        const principal = access.visibility.listedPrincipal(caller, query.principal, 'grants');
        return { grants: await access.grants.list({ principal, resource: query.resource, status: query.active === 'true' ? 'active' : undefined, limit: query.limit }) };
      },
    },
    {
      method: 'GET', url: '/api/v1/grants/:id', tag: 'access', summary: 'One grant', params: id,
      response: responses.grantWithSessions,
      async handler({ caller, params }) {
        const g = await access.grants.get(params.id);
        if (!g || !access.visibility.canSeeGrant(caller, g)) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no grant ${params.id} that you can see.`);
        return { ...g, sessions: access.sessions.list({ grant_id: g.id }) };
      },
    },
    {
      method: 'POST', url: '/api/v1/grants/:id/revoke', tag: 'access', summary: 'End a grant now (the grantee or an admin), saying why; live sessions end', params: id,
      response: responses.grant,
      body: z.strictObject({ reason: z.string().max(2000) }),
      handler: ({ caller, params, body }) => access.grants.revoke(caller, params.id, body.reason),
    },
  ];
}

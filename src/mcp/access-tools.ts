// The MCP tools every principal has: list_resources, request_access, access_status, list_grants — the same request
// and grant services (and the same policy checks and audit) as the HTTP API.
import { z } from 'zod';
import { AirlockError } from '../domain/errors.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import type { AccessRequest, Caller } from '../domain/model.js';
import { explain, type ExplainEntry } from '../policy/explain.js';
import type { Policy } from '../policy/compile.js';
import { answer, refusal, secondsUntil, type McpDeps } from './context.js';
import { waitForChange } from './waiting.js';
import type { ToolHost } from './tool-host.js';

export const ACCESS_STATUS_DEFAULT_SECONDS = 300;
export const ACCESS_STATUS_MAX_SECONDS = 1800;

/** The agent's sponsor (the person answerable for it), from the policy; null for users and agents without one. */
export function sponsorOf(policy: Policy, principal: string): string | null {
  return policy.doc.principals.find((p) => p.name === principal)?.sponsor ?? null;
}

/** An entry's approval rule in words, as the agent should plan around it. */
function approvalInWords(e: ExplainEntry): string {
  const auto = e.approval.auto_approve.filter((a) => a.applies_to_principal).map((a) => `approved at once${a.max_duration ? ` for at most ${a.max_duration}` : ''}${a.time_window ? ` during ${a.time_window}` : ''}`);
  const people = e.approval.approvers.length ? `${e.approval.approvals} approval(s) from ${e.approval.approvers.join(', ')}` : null;
  if (auto.length && people) return `${auto.join('; or ')}; otherwise it waits for ${people}`;
  if (auto.length) return auto.join('; or ');
  return people ? `waits for ${people}` : 'nobody can approve it under the current policy';
}

function statementReviewInWords(policy: Policy, role: string): string | null {
  const r = policy.role(role)?.review;
  if (!r || r.statements === 'none') return null;
  const which = r.statements === 'all' ? 'every statement' : 'every statement that may write';
  return `${which} waits for ${r.approvals} person's approval (up to ${formatDuration(r.timeout)}): query answers pending_review with a review_id; then call review_status`;
}

function listResources(deps: McpDeps, caller: Caller) {
  const policy = deps.access.policy();
  const ex = explain(policy, caller.principal.name);
  const resources = policy.resources.flatMap((r) => {
    const roles = ex.entries.filter((e) => e.resource === r.name && e.allowed).map((e) => ({
      role: e.role,
      max_duration: e.max_duration,
      read_only: e.read_only,
      approval: approvalInWords(e),
      justification: { required: e.justification.required, pattern: e.justification.pattern, ticket_required: e.justification.ticket_required, hint: e.justification.hint },
      statement_review: statementReviewInWords(policy, e.role),
      max_rows: policy.role(e.role)?.guardrails?.max_rows ?? null,
    }));
    return roles.length ? [{ name: r.name, kind: r.kind, description: r.description ?? null, labels: r.labels, roles }] : [];
  });
  return {
    principal: caller.principal.name,
    resources,
    how_to_request: 'Call request_access with {resource, role, duration (at most the role\'s max_duration, e.g. "15m"), reason (meeting the justification rule), ticket?}. If it is not approved at once, call access_status with the request_id to wait for a person\'s decision.',
  };
}

/** A request as the agent reads it, with the grant it led to (and how that ended) and a reviewer's comment. */
async function describeRequest(deps: McpDeps, r: AccessRequest) {
  const { access } = deps;
  const now = access.clock.now();
  const base = { request_id: r.id, resource: r.resource, role: r.role, status: r.status as string, decided_by: r.decided_by, decided_at: r.decided_at };
  const reviews = r.status === 'pending' ? [] : await access.reviews.forRequest(r.id);
  const comment = [...reviews].reverse().find((v) => v.comment)?.comment ?? null;
  if (r.status === 'pending') return { ...base, timeout_at: r.timeout_at, next: 'A person has to decide; call access_status again to keep waiting.' };
  if (r.status !== 'approved' || !r.grant_id) {
    const next = r.status === 'denied' ? 'Do not ask again for the same thing; tell the user the reviewer\'s comment.' : 'Ask again with request_access if the access is still needed.';
    return { ...base, comment, next };
  }
  const g = await access.grants.get(r.grant_id);
  if (g?.status === 'active' && Date.parse(g.expires_at) > now.getTime()) {
    return { ...base, comment, grant_id: g.id, expires_at: g.expires_at, seconds_left: secondsUntil(g.expires_at, now), next: 'The grant is active: the tools for this resource are listed now (tools/list).' };
  }
  return { ...base, status: g?.status ?? 'expired', comment, grant_id: r.grant_id, ended_at: g?.ended_at ?? null, end_reason: g?.end_reason ?? null, ended_by: g?.ended_by ?? null, next: 'The grant has ended; ask again with request_access if the access is still needed.' };
}

export function registerAccessTools(host: ToolHost): void {
  const { deps } = host;
  const { access } = deps;

  host.define('list_resources', {
    title: 'Resources you may request',
    description: 'Lists the resources this principal may request, each with its roles: max_duration, whether it is read-only, the approval rule in words (which requests are approved at once), the justification rule, max_rows and whether statements wait for a person\'s review. Nothing here grants access: use request_access.',
    inputSchema: {},
    annotations: { readOnlyHint: true },
  }, async (_args, call) => answer(listResources(deps, call.caller)));

  host.define('request_access', {
    title: 'Ask for access',
    description: 'Asks for a role on a resource for a bounded time, with a reason (the same request a person makes with `airlock request`; the role\'s justification rule applies). Answers the request id and its status: approved at once by a rule (with the grant id), or pending until a person decides — then call access_status. Agents show their sponsor to approvers. Durations like "15m", "1h"; at most the role\'s max_duration.',
    inputSchema: {
      resource: z.string().min(1).max(100).describe('resource name (list_resources)'),
      role: z.string().min(1).max(100).describe('role name (list_resources)'),
      duration: z.string().min(1).max(32).describe('how long, e.g. "15m", "1h"; at most the role\'s max_duration'),
      reason: z.string().max(2000).describe('why the access is needed; must meet the role\'s justification rule (e.g. start with a ticket)'),
      ticket: z.string().max(200).optional().describe('ticket reference, e.g. OPS-123'),
    },
  }, async (a, call) => {
    const seconds = parseDuration(a.duration);
    if (seconds === undefined) return refusal('AIRLOCK_BAD_DURATION', `"${a.duration}" is not a duration; write e.g. 15m, 1h, 1h30m`);
    const r = await access.requests.create(call.caller, { resource: a.resource, role: a.role, duration_seconds: seconds, reason: a.reason, ticket: a.ticket });
    const d = await describeRequest(deps, r);
    const next = r.status === 'pending' ? `Pending until a person decides (times out at ${r.timeout_at}); call access_status with request_id ${r.id} to wait for it.` : d.next;
    return answer({ ...d, approved_by_rule: r.auto_approved_by !== null, sponsor: sponsorOf(access.policy(), call.caller.principal.name), next });
  }, (a) => ({ target: a.resource }));

  host.define('access_status', {
    title: 'Wait for a decision on a request',
    description: `Returns the status of one of your requests; while it is pending, waits for a person's decision (up to timeout_seconds, default ${ACCESS_STATUS_DEFAULT_SECONDS}, at most ${ACCESS_STATUS_MAX_SECONDS}), sending progress notifications every few seconds. Ends at once on approval (with the grant and its expiry), denial (with the reviewer's comment), cancellation, time-out, or when its grant is revoked. Still pending at the timeout: call it again.`,
    inputSchema: {
      request_id: z.string().min(1).max(100).describe('req_… from request_access'),
      timeout_seconds: z.number().int().min(0).max(ACCESS_STATUS_MAX_SECONDS).optional().describe(`how long to wait for a decision (default ${ACCESS_STATUS_DEFAULT_SECONDS})`),
    },
    annotations: { readOnlyHint: true },
  }, async (a, call, extra, progress) => {
    const first = await access.requests.get(a.request_id);
    if (!first || first.principal !== call.caller.principal.name) throw new AirlockError('AIRLOCK_NOT_FOUND', `You have no request ${a.request_id}; request_access answers the id.`);
    if (first.status !== 'pending') return answer(await describeRequest(deps, first));
    const approvers = explain(access.policy(), call.caller.principal.name, first.resource).entries.find((e) => e.role === first.role)?.approval.approvers ?? [];
    const end = await waitForChange({
      bus: access.bus,
      relevant: (c) => (c.kind === 'request' && c.id === first.id) || (c.kind === 'grant' && c.principal === first.principal),
      check: async () => {
        const r = await access.requests.get(first.id);
        return r && r.status !== 'pending' ? r : null;
      },
      timeoutMs: (a.timeout_seconds ?? ACCESS_STATUS_DEFAULT_SECONDS) * 1000,
      signal: extra.signal,
      progress,
      still: () => `waiting for a decision on ${first.id} (${first.role} on ${first.resource})${approvers.length ? ` by ${approvers.join(', ')}` : ''}; it times out at ${first.timeout_at}`,
    });
    if ('done' in end) return answer(await describeRequest(deps, end.done));
    const now = await access.requests.get(first.id);
    return answer({ ...(await describeRequest(deps, now ?? first)), waited_seconds: a.timeout_seconds ?? ACCESS_STATUS_DEFAULT_SECONDS });
  });

  host.define('list_grants', {
    title: 'Your active grants',
    description: 'Lists your active grants: resource, its kind, role, grant id, expires_at (ISO 8601, UTC) and seconds left. Access ends by itself at expires_at; ask for more time with request_access once it has ended.',
    inputSchema: {},
    annotations: { readOnlyHint: true },
  }, async (_a, call) => {
    const now = access.clock.now();
    const policy = access.policy();
    const grants = (await access.grants.list({ principal: call.caller.principal.name, status: 'active' }))
      .filter((g) => Date.parse(g.expires_at) > now.getTime())
      .map((g) => ({ grant_id: g.id, resource: g.resource, kind: policy.resource(g.resource)?.kind ?? null, role: g.role, starts_at: g.starts_at, expires_at: g.expires_at, seconds_left: secondsUntil(g.expires_at, now), break_glass: g.break_glass }));
    return answer({ now: now.toISOString(), grants });
  });
}

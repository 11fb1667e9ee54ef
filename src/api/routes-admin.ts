// API routes for admins and auditors: locks, tokens, sessions, policy, audit.
import { z } from 'zod';
import { AirlockError } from '../domain/errors.js';
import { parseDuration } from '../domain/duration.js';
import type { Access } from '../access/access.js';
import { explain } from '../policy/explain.js';
import type { PolicySource } from '../policy/source.js';
import type { RouteDef } from './routing.js';
import { responses } from './schemas.js';
import { forbidden } from './routing.js';
import { canSeeAll } from './routes-access.js';

const id = z.strictObject({ id: z.string().min(1).max(100) });

export interface AdminRouteDeps {
  access: Access;
  policySource: PolicySource;
  /** Reloads the policy and audits the outcome (shared with SIGHUP and file watching). */
  reloadPolicy(actor: string, source: string | null): Promise<unknown>;
  /** The data directory that sealed recordings are relative to (for verify with recordings=true). */
  recordingsDataDir?: string;
}

const auditFilter = z.strictObject({
  since: z.string().datetime({ offset: true }).optional().describe('ISO time, inclusive'),
  until: z.string().datetime({ offset: true }).optional().describe('ISO time, exclusive'),
  after_seq: z.coerce.number().int().min(0).optional(),
  actor: z.string().max(100).optional(),
  action: z.string().max(100).optional().describe('exact, or a prefix ending in * (e.g. grant.*)'),
  target: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100000).default(1000),
  format: z.enum(['json', 'jsonl']).default('json'),
});

export function adminRoutes(deps: AdminRouteDeps): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { access } = deps;
  const requireAdmin = (c: Parameters<RouteDef['handler']>[0]['caller'], what: string) => {
    if (!access.policy().isAdmin(c.principal)) throw forbidden(`Only an admin can ${what}.`);
  };
  const requireAuditor = (c: Parameters<RouteDef['handler']>[0]['caller']) => {
    if (!canSeeAll(access, c)) throw forbidden('Only admins and auditors can read the audit log.');
  };
  return [
    {
      method: 'GET', url: '/api/v1/locks', tag: 'locks', summary: 'Locks (active ones, or all)',
      response: responses.locks,
      query: z.strictObject({ active: z.enum(['true', 'false']).default('true') }),
      handler: async ({ query }) => ({ locks: await access.locks.list({ active: query.active === 'true' }) }),
    },
    {
      method: 'POST', url: '/api/v1/locks', tag: 'locks', summary: 'Lock a principal, resource or role: refuses new grants and sessions and ends live ones',
      response: responses.lockCreated,
      body: z.strictObject({ target_kind: z.enum(['principal', 'resource', 'role']), target: z.string().min(1).max(100), reason: z.string().max(2000) }),
      async handler({ caller, body, reply }) {
        const out = await access.locks.create(caller, body.target_kind, body.target, body.reason);
        reply.status(201);
        return { ...out.lock, grants_ended: out.grants_ended };
      },
    },
    {
      method: 'POST', url: '/api/v1/locks/:id/lift', tag: 'locks', summary: 'Lift a lock', params: id,
      response: responses.lock,
      handler: ({ caller, params }) => access.locks.lift(caller, params.id),
    },
    {
      method: 'GET', url: '/api/v1/tokens', tag: 'identity', summary: 'Tokens (never their values): yours, or anyone\'s for admins',
      response: responses.tokens,
      query: z.strictObject({ principal: z.string().max(100).optional() }),
      async handler({ caller, query }) {
        const admin = access.policy().isAdmin(caller.principal);
        if (query.principal && query.principal !== caller.principal.name && !admin) throw forbidden('Only an admin can list other people\'s tokens.');
        return { tokens: await access.tokens.list(admin ? query.principal : caller.principal.name) };
      },
    },
    {
      method: 'POST', url: '/api/v1/tokens', tag: 'identity', summary: 'Create an access token (shown once)',
      response: responses.tokenCreated,
      body: z.strictObject({ principal: z.string().min(1).max(100), ttl: z.string().max(32).default('8h').describe('lifetime, e.g. 8h, 30d'), label: z.string().max(200).optional(), grant_id: z.string().max(100).optional().describe('mint it for this grant (airlock connect): it lives no longer than the grant and replaces your previous token for it') }),
      async handler({ caller, body, reply }) {
        const ttl = parseDuration(body.ttl);
        if (ttl === undefined) throw new AirlockError('AIRLOCK_BAD_DURATION', `"${body.ttl}" is not a duration; write e.g. 8h or 30d.`);
        const { token, record } = await access.tokens.create(caller, body.principal, ttl, body.label ?? null, body.grant_id ?? null);
        reply.status(201).header('cache-control', 'no-store');
        return { token, ...record };
      },
    },
    {
      method: 'POST', url: '/api/v1/tokens/:id/revoke', tag: 'identity', summary: 'Revoke a token', params: id,
      response: responses.token,
      handler: ({ caller, params }) => access.tokens.revoke(caller, params.id),
    },
    {
      method: 'GET', url: '/api/v1/sessions', tag: 'sessions', summary: 'Live sessions on this gateway process',
      response: responses.sessions,
      async handler({ caller }) {
        const all = canSeeAll(access, caller);
        return { sessions: access.sessions.list(all ? {} : { principal: caller.principal.name }) };
      },
    },
    {
      method: 'POST', url: '/api/v1/sessions/:id/kill', tag: 'sessions', summary: 'End a live session now (admin), on whichever gateway process holds it', params: id,
      response: responses.sessionKilled,
      body: z.strictObject({ reason: z.string().max(2000).default('') }),
      async handler({ caller, params, body }) {
        requireAdmin(caller, 'kill sessions');
        const session = await access.kills.kill({ actor: caller.principal.name, source: caller.source, session_id: params.id, reason: body.reason });
        return { killed: true, session };
      },
    },
    {
      method: 'GET', url: '/api/v1/policy', tag: 'policy', summary: 'The loaded policy (admins and auditors)',
      response: responses.policy,
      async handler({ caller }) {
        requireAuditor(caller);
        const p = access.policy();
        // Where upstream secrets live (env var names, file paths) is not for browsers either: show only that one is set.
        const resources = p.doc.resources.map((r) => (r.credential ? { ...r, credential: { username: r.credential.username, mode: r.credential.mode, password: '(reference hidden)' } } : r));
        const webhooks = p.doc.notify.webhooks.map((w) => ({ ...w, url: w.url.replace(/^(https?:\/\/[^/]+).*$/, '$1/…'), secret: w.secret ? '(reference hidden)' : undefined }));
        // A masking hash key is a secret too: shown only as set.
        const roles = p.doc.roles.map((r) => (r.masking?.rules.some((m) => m.key) ? { ...r, masking: { ...r.masking, rules: r.masking.rules.map((m) => (m.key ? { ...m, key: '(reference hidden)' } : m)) } } : r));
        const oidc = p.doc.identity?.oidc;
        const identity = oidc ? { oidc: { ...oidc, client_secret: oidc.client_secret ? '(reference hidden)' : undefined } } : undefined;
        // Slack and e-mail as they route and what they send; the token, signing secret and SMTP password only as "set".
        const slack = p.doc.notify.slack.map((s) => ({ ...s, bot_token: '(reference hidden)', signing_secret: '(reference hidden)' }));
        const e = p.doc.notify.email;
        const email = e ? { smtp: { host: e.smtp.host, port: e.smtp.port, starttls: e.smtp.starttls, ...(e.smtp.password ? { password: '(reference hidden)' } : {}) }, from: e.from, security_group: e.security_group, expiry_warning: e.expiry_warning, events: e.events } : undefined;
        return { file: p.file, hash: p.hash, policy: { ...p.doc, resources, roles, notify: { webhooks, slack, ...(email ? { email } : {}) }, ...(identity ? { identity } : {}) } };
      },
    },
    {
      method: 'GET', url: '/api/v1/policy/explain', tag: 'policy', summary: 'Which roles a principal may request on a resource, with limits, approvers and the rule behind each refusal',
      response: responses.explanation,
      query: z.strictObject({ principal: z.string().max(100).optional(), resource: z.string().max(100).optional() }),
      async handler({ caller, query }) {
        const who = query.principal ?? caller.principal.name;
        if (who !== caller.principal.name && !canSeeAll(access, caller)) throw forbidden('Only admins and auditors can explain the policy for someone else.');
        return explain(access.policy(), who, query.resource);
      },
    },
    {
      method: 'POST', url: '/api/v1/policy/reload', tag: 'policy', summary: 'Reload the policy file now (admin); an invalid file is refused and the old policy kept',
      response: responses.policyReload,
      async handler({ caller }) {
        requireAdmin(caller, 'reload the policy');
        return deps.reloadPolicy(caller.principal.name, caller.source);
      },
    },
    {
      method: 'GET', url: '/api/v1/audit/verify', tag: 'audit', summary: 'Check the whole hash chain; names the first bad sequence number. With recordings=true, also every sealed session recording (missing, truncated, edited)',
      response: responses.auditVerify,
      query: z.strictObject({ recordings: z.enum(['true', 'false']).default('false').describe('also check each session.end\'s recording against its seal') }),
      async handler({ caller, query }) {
        requireAuditor(caller);
        const chain = await access.audit.verify();
        if (query.recordings !== 'true') return chain;
        if (!deps.recordingsDataDir) throw new AirlockError('AIRLOCK_INTERNAL', 'This server keeps no recordings directory, so recordings cannot be checked.');
        const { checkRecordings, sealsIn, withRecordings } = await import('../audit/recording-verify.js');
        return withRecordings(chain, await checkRecordings(deps.recordingsDataDir, sealsIn(access.audit.events({ action: 'session.end' }))));
      },
    },
    {
      method: 'GET', url: '/api/v1/audit/events', tag: 'audit', summary: 'Audit events in order; format=jsonl streams them (for a SIEM)', query: auditFilter,
      response: responses.auditEvents,
      async handler({ caller, query, reply }) {
        requireAuditor(caller);
        await access.audit.flush();
        const filter = { since: query.since && new Date(query.since).toISOString(), until: query.until && new Date(query.until).toISOString(), afterSeq: query.after_seq, actor: query.actor, action: query.action, target: query.target };
        if (query.format === 'jsonl') {
          reply.hijack();
          reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
          let n = 0;
          for await (const e of access.audit.events(filter)) {
            if (n++ >= query.limit) break;
            if (!reply.raw.write(`${JSON.stringify(e)}\n`)) await new Promise((r) => reply.raw.once('drain', r));
          }
          reply.raw.end();
          return undefined;
        }
        const events = [];
        for await (const e of access.audit.events(filter)) {
          if (events.length >= query.limit) break;
          events.push(e);
        }
        return { events, head: await access.audit.head() };
      },
    },
  ];
}

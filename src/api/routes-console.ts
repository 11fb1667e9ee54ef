// API routes the web console needs beyond the lifecycle: sign-in and sign-out, passwords, principals, and the
// session history and statement timelines that the gateways' audit events (session.start, statement, session.end) tell.
import { z } from 'zod';
import { AirlockError } from '../domain/errors.js';
import type { AuditEvent, Caller } from '../domain/model.js';
import type { Access } from '../access/access.js';
import type { PasswordService } from '../access/passwords.js';
import { MAX_PASSWORD_LENGTH } from '../access/passwords.js';
import type { LiveSessionInfo } from '../access/session-registry.js';
import type { RouteDef } from './routing.js';
import { responses } from './schemas.js';
import { forbidden } from './routing.js';
import { canSeeAll } from './routes-access.js';
import { CSRF_HEADER, type ConsoleAuth } from './console-auth.js';

const HISTORY_DAYS = 7;

export interface SessionSummary {
  id: string;
  protocol: string;
  principal: string;
  resource: string | null;
  role: string | null;
  grant_id: string | null;
  source: string | null;
  started_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  killed_by: string | null;
  statements: number | null;
  duration_ms: number | null;
  live: boolean;
}

export interface StatementEntry {
  seq: number;
  time: string;
  text: string;
  fingerprint: string | null;
  decision: string;
  rule: string | null;
  rows: number | null;
  duration_ms: number | null;
  error: string | null;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function summaryFromStart(e: AuditEvent, live: LiveSessionInfo | undefined): SessionSummary {
  const d = e.details;
  return {
    id: String(d.session_id), protocol: str(d.protocol) ?? 'postgres', principal: e.actor, resource: e.target, role: str(d.role), grant_id: str(d.grant_id), source: e.source,
    started_at: e.time, ended_at: null, end_reason: null, killed_by: null, statements: live ? live.statements : null, duration_ms: null, live: live !== undefined,
  };
}

function applyEnd(s: SessionSummary, e: AuditEvent): void {
  s.ended_at = e.time;
  s.end_reason = str(e.details.reason);
  s.statements = num(e.details.statements);
  s.duration_ms = num(e.details.duration_ms);
  s.live = false;
}

/** Tells SSE watchers when a live session starts or ends on this process (the Sessions page listens). */
export function publishSessionChanges(access: Access): void {
  const tell = (event: 'started' | 'ended') => (s: LiveSessionInfo) =>
    access.bus.publish([{ kind: 'session', id: s.id, event, principal: s.principal, resource: s.resource, role: s.role, time: access.clock.now().toISOString() }]);
  access.sessions.on('started', tell('started'));
  access.sessions.on('ended', tell('ended'));
}

export function consoleRoutes(deps: { access: Access; passwords: PasswordService; consoleAuth: ConsoleAuth; gatewayCa: () => string | null }): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { access, passwords, consoleAuth } = deps;

  async function sessionHistory(caller: Caller, q: { principal?: string; resource?: string; since?: string; limit: number }): Promise<SessionSummary[]> {
    const all = canSeeAll(access, caller);
    if (q.principal && q.principal !== caller.principal.name && !all) throw forbidden('Only admins and auditors can see other people\'s sessions.');
    await access.audit.flush();
    const live = new Map(access.sessions.list().map((s) => [s.id, s]));
    const since = q.since ? new Date(q.since).toISOString() : new Date(access.clock.now().getTime() - HISTORY_DAYS * 86400_000).toISOString();
    const byId = new Map<string, SessionSummary>();
    for await (const e of access.audit.events({ action: 'session.*', since, actor: all ? q.principal : caller.principal.name })) {
      const id = str(e.details.session_id);
      if (!id) continue;
      if (e.action === 'session.start') byId.set(id, summaryFromStart(e, live.get(id)));
      else if (e.action === 'session.end') {
        const s = byId.get(id);
        if (s) applyEnd(s, e);
      } else if (e.action === 'session.kill') {
        const s = byId.get(id);
        if (s) s.killed_by = e.actor;
      }
    }
    const out = [...byId.values()].filter((s) => !q.resource || s.resource === q.resource);
    return out.slice(-q.limit).reverse();
  }

  return [
    {
      method: 'POST', url: '/api/v1/console/sign-in', tag: 'console', summary: `Sign in to the console with a local password or an access token; sets an HttpOnly session cookie. Send the header ${CSRF_HEADER} (any value).`, auth: false,
      response: responses.consoleSignIn,
      body: z.strictObject({
        principal: z.string().min(1).max(100).optional().describe('your principal name (with password)'),
        password: z.string().max(MAX_PASSWORD_LENGTH + 1).optional(),
        token: z.string().max(300).optional().describe('an access token (alk_…), instead of a name and password'),
      }),
      async handler({ body, req, reply }) {
        // A custom header cannot be sent by a plain cross-site form, so nobody can sign a victim in to their account.
        if (typeof req.headers[CSRF_HEADER] !== 'string') throw new AirlockError('AIRLOCK_FORBIDDEN', `Sign-in needs the ${CSRF_HEADER} header; use the console's sign-in page.`);
        if (body.token !== undefined) return consoleAuth.signInWithToken(req, reply, body.token.trim());
        if (!body.principal || body.password === undefined) throw new AirlockError('AIRLOCK_BAD_INPUT', 'Send your name and password, or an access token.');
        return consoleAuth.signInWithPassword(req, reply, body.principal.trim(), body.password);
      },
    },
    {
      method: 'POST', url: '/api/v1/console/sign-out', tag: 'console', summary: 'Sign out of the console: the session is deleted and the cookie cleared', auth: false,
      response: responses.consoleSignOut,
      handler: ({ req, reply }) => consoleAuth.signOut(req, reply),
    },
    {
      method: 'GET', url: '/api/v1/console/session', tag: 'console', summary: 'The console session of this browser: who, until when, and the CSRF value for changes', auth: false,
      response: responses.consoleSession,
      async handler({ req, reply }) {
        reply.header('cache-control', 'no-store');
        const s = await consoleAuth.current(req);
        return { principal: s.principal, method: s.method, created_at: s.created_at, expires_at: s.expires_at, csrf: s.csrf };
      },
    },
    {
      method: 'GET', url: '/api/v1/gateways/ca.crt', tag: 'meta', summary: 'The CA certificate of the database gateways, as a file (for sslrootcert)', auth: false,
      response: responses.gatewayCa,
      async handler({ reply }) {
        const ca = deps.gatewayCa();
        if (!ca) throw new AirlockError('AIRLOCK_NOT_FOUND', 'This server runs no database gateway, so it has no gateway CA certificate.');
        return reply.type('application/x-pem-file').header('content-disposition', 'attachment; filename="airlock-ca.crt"').send(ca);
      },
    },
    {
      method: 'POST', url: '/api/v1/principals/:name/password', tag: 'console', summary: 'Set a console password (your own, or anyone\'s as admin); ends that principal\'s password sessions',
      response: responses.passwordSet,
      params: z.strictObject({ name: z.string().min(1).max(100) }),
      body: z.strictObject({ password: z.string().max(MAX_PASSWORD_LENGTH + 1).describe('the new password, at least 12 characters') }),
      handler: ({ caller, params, body }) => passwords.set(caller, params.name, body.password),
    },
    {
      method: 'GET', url: '/api/v1/principals', tag: 'identity', summary: 'Principals in the policy, with whether they have a console password and how many valid tokens (admins and auditors)',
      response: responses.principals,
      async handler({ caller }) {
        if (!canSeeAll(access, caller)) throw forbidden('Only admins and auditors can list principals.');
        const p = access.policy();
        const pw = new Map((await passwords.list()).map((x) => [x.principal, x]));
        const now = access.clock.now().toISOString();
        const tokens = await access.tokens.list();
        return {
          principals: p.doc.principals.map((x) => {
            const principal = p.principal(x.name)!;
            return {
              name: x.name, kind: x.kind, groups: x.groups, email: x.email ?? null, admin: p.isAdmin(principal), auditor: p.isAuditor(principal),
              approver_of: p.roles.filter((r) => p.isApprover(principal, r)).map((r) => r.name),
              password_set_at: pw.get(x.name)?.updated_at ?? null,
              valid_tokens: tokens.filter((t) => t.principal === x.name && t.revoked_at === null && t.expires_at > now).length,
            };
          }),
        };
      },
    },
    {
      method: 'GET', url: '/api/v1/sessions/history', tag: 'sessions', summary: 'Sessions (live and ended) from the audit log, newest first: yours, or everyone\'s for admins and auditors',
      response: responses.sessionHistory,
      query: z.strictObject({
        principal: z.string().max(100).optional(),
        resource: z.string().max(100).optional(),
        since: z.string().datetime({ offset: true }).optional().describe(`ISO time; default ${HISTORY_DAYS} days ago`),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      async handler({ caller, query }) {
        return { sessions: await sessionHistory(caller, query) };
      },
    },
    {
      method: 'GET', url: '/api/v1/sessions/:id/statements', tag: 'sessions', summary: 'One session\'s statement timeline: text, decision, rule, rows, duration, error',
      response: responses.sessionStatements,
      params: z.strictObject({ id: z.string().min(1).max(100) }),
      query: z.strictObject({
        since: z.string().datetime({ offset: true }).optional().describe('when the session started, if known (faster)'),
        limit: z.coerce.number().int().min(1).max(10000).default(2000),
      }),
      async handler({ caller, params, query }) {
        await access.audit.flush();
        const notFound = () => new AirlockError('AIRLOCK_NOT_FOUND', `There is no session ${params.id} that you can see.`);
        let start: AuditEvent | undefined;
        for await (const e of access.audit.events({ action: 'session.start', since: query.since && new Date(query.since).toISOString() })) {
          if (e.details.session_id === params.id) {
            start = e;
            break;
          }
        }
        if (!start || (start.actor !== caller.principal.name && !canSeeAll(access, caller))) throw notFound();
        const session = summaryFromStart(start, access.sessions.list({ session_id: params.id })[0]);
        const statements: StatementEntry[] = [];
        let truncated = false;
        for await (const e of access.audit.events({ afterSeq: start.seq, target: start.target ?? undefined })) {
          if (e.details.session_id !== params.id) continue;
          if (e.action === 'session.end') {
            applyEnd(session, e);
            break;
          }
          if (e.action === 'session.kill') session.killed_by = e.actor;
          if (e.action !== 'statement') continue;
          if (statements.length >= query.limit) {
            truncated = true;
            continue;
          }
          const d = e.details;
          statements.push({ seq: e.seq, time: e.time, text: str(d.text) ?? '', fingerprint: str(d.fingerprint), decision: str(d.decision) ?? 'allowed', rule: str(d.rule), rows: num(d.rows), duration_ms: num(d.duration_ms), error: str(d.error) });
        }
        return { session, statements, truncated };
      },
    },
  ];
}

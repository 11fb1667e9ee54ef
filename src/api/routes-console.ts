// API routes the web console needs beyond the lifecycle: sign-in and sign-out, passwords, principals, and the
// session history and statement timelines (src/access/session-history.ts).
import { z } from 'zod';
import { AirlockError } from '../domain/errors.js';
import type { Access } from '../access/access.js';
import type { PasswordService } from '../access/passwords.js';
import { MAX_PASSWORD_LENGTH } from '../access/passwords.js';
import type { LiveSessionInfo } from '../access/session-registry.js';
import { HISTORY_DAYS } from '../access/session-history.js';
import type { RouteDef } from './routing.js';
import { responses } from './schemas.js';
import { forbidden } from './routing.js';
import { canSeeAll } from './routes-access.js';
import { CSRF_HEADER, type ConsoleAuth } from './console-auth.js';

export type { SessionSummary, StatementEntry } from '../access/session-history.js';

/** Tells SSE watchers when a live session starts or ends on this process (the Sessions page listens). */
export function publishSessionChanges(access: Access): void {
  const tell = (event: 'started' | 'ended') => (s: LiveSessionInfo) =>
    access.bus.publish([{ kind: 'session', id: s.id, event, principal: s.principal, resource: s.resource, role: s.role, time: access.clock.now().toISOString() }]);
  access.sessions.on('started', tell('started'));
  access.sessions.on('ended', tell('ended'));
}

export function consoleRoutes(deps: { access: Access; passwords: PasswordService; consoleAuth: ConsoleAuth; gatewayCa: () => string | null }): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { access, passwords, consoleAuth } = deps;

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
      method: 'GET', url: '/api/v1/console/session', tag: 'console', summary: 'The console session of this browser: who, until when, and the CSRF value for changes; signed_in false (with why, when a session ended) otherwise', auth: false,
      response: responses.consoleSession,
      async handler({ req, reply }) {
        reply.header('cache-control', 'no-store');
        const s = await consoleAuth.current(req, reply);
        if ('ended' in s) return { signed_in: false, detail: s.ended };
        return { signed_in: true, principal: s.principal, method: s.method, created_at: s.created_at, expires_at: s.expires_at, csrf: s.csrf };
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
      method: 'GET', url: '/api/v1/sessions/history', tag: 'sessions', summary: 'Sessions (live and ended), newest first: yours, or everyone\'s for admins and auditors',
      response: responses.sessionHistory,
      query: z.strictObject({
        principal: z.string().max(100).optional(),
        resource: z.string().max(100).optional(),
        since: z.string().datetime({ offset: true }).optional().describe(`ISO time; default ${HISTORY_DAYS} days ago`),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      async handler({ caller, query }) {
        return { sessions: await access.sessionHistory.list(caller, query) };
      },
    },
    {
      method: 'GET', url: '/api/v1/sessions/:id/statements', tag: 'sessions', summary: 'One session\'s statement timeline: text, decision, rule, rows, duration, error',
      response: responses.sessionStatements,
      params: z.strictObject({ id: z.string().min(1).max(100) }),
      query: z.strictObject({
        since: z.string().datetime({ offset: true }).optional().describe('accepted for older clients; not needed'),
        limit: z.coerce.number().int().min(1).max(10000).default(2000),
      }),
      async handler({ caller, params, query }) {
        return access.sessionHistory.timeline(caller, params.id, query.limit);
      },
    },
  ];
}

// Single sign-on over HTTP: the console's browser login (authorization code + PKCE, answered by a console session),
// and the CLI's `airlock login --sso` (device flow, or the browser handing a one-time code to the CLI's loopback),
// both ending in what src/identity/sso.ts makes of a validated sign-in.
import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AirlockError } from '../domain/errors.js';
import type { Access } from '../access/access.js';
import type { Sso, SignedIn } from '../identity/sso.js';
import { isLoopbackRedirect } from '../identity/sso.js';
import type { RouteDef } from './routing.js';
import { readCookie, type ConsoleAuth } from './console-auth.js';
import { forbidden } from './routing.js';
import type { FastifyInstance } from 'fastify';

/** Ties the IdP's redirect back to the browser that left: SameSite=Lax, since that redirect is a cross-site navigation. */
const BINDING_COOKIE = 'airlock_sso';
const CALLBACK = '/api/v1/auth/sso/callback';
const CONFIRM = '/api/v1/auth/sso/confirm';
/** The confirmation page runs no script and is never framed (a framed "Allow" button could be clicked blind). */
const PAGE_HEADERS = { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:* http://[::1]:*; frame-ancestors 'none'", 'x-frame-options': 'DENY', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(reply: FastifyReply, body: string) {
  return reply.code(200).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Airlock: confirm the command-line sign-in</title><style>body{font:16px system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem}code{font-size:1.4em;letter-spacing:.15em}form{display:inline-block;margin-right:1rem}button{font-size:1rem;padding:.5rem 1rem}</style></head><body>${body}</body></html>`);
}

function confirmPage(id: string, c: { principal: string; started: number; code: string; csrf: string }): string {
  const form = (decision: 'allow' | 'cancel', label: string) => `<form method="post" action="${CONFIRM}"><input type="hidden" name="id" value="${esc(id)}"><input type="hidden" name="csrf" value="${esc(c.csrf)}"><input type="hidden" name="decision" value="${decision}"><button type="submit">${label}</button></form>`;
  return `<h1>Give the command-line tool access?</h1>
<p>A command-line tool on this computer (<code style="font-size:1em;letter-spacing:0">airlock login --sso</code>) asks for access to Airlock as <strong>${esc(c.principal)}</strong>. It asked at ${new Date(c.started).toISOString().slice(11, 19)} UTC.</p>
<p>Its code: <code>${esc(c.code)}</code></p>
<p>Allow only if you ran <code style="font-size:1em;letter-spacing:0">airlock login --sso</code> yourself just now and it shows this same code. If you did not, or it shows another code, cancel: someone else may have sent you the link.</p>
${form('allow', `Allow as ${esc(c.principal)}`)}${form('cancel', 'Cancel')}`;
}

const cliToken = z.object({ token: z.string(), expires_at: z.string(), principal: z.string(), groups: z.array(z.string()) });

export function ssoRoutes(deps: { access: Access; sso: Sso; consoleAuth: ConsoleAuth; publicUrl: () => string; behindTlsProxy?: boolean }): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { access, sso } = deps;

  function bindingCookie(req: FastifyRequest, value: string, maxAge: number): string {
    const secure = deps.behindTlsProxy || req.protocol === 'https' ? '; Secure' : '';
    return `${BINDING_COOKIE}=${value}; Path=/api/v1/auth/sso/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`;
  }

  /** An Airlock token for the principal, bound to the sign-in: it expires when the sign-in does. */
  async function mintFor(s: SignedIn, source: string | null) {
    const principal = access.policy().principal(s.principal);
    if (!principal) throw new AirlockError('AIRLOCK_SSO_FAILED', `Single sign-on did not complete: "${s.principal}" is not in the policy any more.`);
    const ttl = Math.floor((Date.parse(s.expiresAt) - access.clock.now().getTime()) / 1000);
    if (ttl < 1) throw new AirlockError('AIRLOCK_SSO_FAILED', 'Single sign-on did not complete: the sign-in has already ended.');
    const { token, record } = await access.tokens.create({ principal, source, token_id: null, console_session_id: null }, s.principal, ttl, 'airlock login --sso');
    return { token, expires_at: record.expires_at, principal: s.principal, groups: principal.groups };
  }

  /** A 302 with a line of text for clients that do not follow it. */
  function redirect(reply: FastifyReply, location: string) {
    return reply.code(302).header('location', location).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(`Redirecting to ${location.split('?')[0]}`);
  }

  /** Back to the sign-in page with a code from a fixed set (the page has the sentences); never text of our callers'. */
  function toSignIn(reply: FastifyReply, e: AirlockError) {
    const code = typeof e.details?.sso_error === 'string' ? e.details.sso_error : e.code === 'AIRLOCK_SSO_BUSY' ? 'busy' : 'failed';
    return redirect(reply, `/?sso_error=${encodeURIComponent(code)}`);
  }

  const redirects = (what: string) => ({ 302: { content: 'text/plain', description: `a redirect (Location): ${what}` } });

  return [
    {
      method: 'GET', url: '/api/v1/auth/sso', tag: 'console', summary: 'Whether single sign-on is configured, and the name its button shows', auth: false,
      response: z.object({ enabled: z.boolean(), display_name: z.string().nullable(), device_flow: z.boolean().describe('the IdP offers the device authorization grant: airlock login --sso uses it') }),
      handler: async () => sso.status(),
    },
    {
      method: 'GET', url: '/api/v1/auth/sso/start', tag: 'console', summary: 'Starts a single sign-on in the browser: 302 to the identity provider (authorization code with PKCE, state and nonce). cli_redirect and challenge: for airlock login --sso', auth: false,
      query: z.strictObject({ cli_redirect: z.string().max(200).optional(), challenge: z.string().regex(/^[A-Za-z0-9_-]{43}$/).optional() }),
      response: redirects('the identity provider\'s sign-in page'),
      async handler({ req, reply, query }) {
        let purpose: Parameters<Sso['start']>[1] = { kind: 'console' };
        if (query.cli_redirect !== undefined || query.challenge !== undefined) {
          if (!query.cli_redirect || !isLoopbackRedirect(query.cli_redirect) || !query.challenge) throw new AirlockError('AIRLOCK_BAD_INPUT', 'cli_redirect must be http://127.0.0.1:<port>/… and come with a challenge (airlock login --sso sends both).');
          purpose = { kind: 'cli', redirect: query.cli_redirect, challenge: query.challenge };
        }
        const { url, binding } = await sso.start(`${deps.publicUrl()}${CALLBACK}`, purpose, req.ip);
        reply.header('set-cookie', bindingCookie(req, binding, 600));
        return redirect(reply, url);
      },
    },
    {
      method: 'GET', url: CALLBACK, tag: 'console', summary: 'Where the identity provider sends the browser back: validates the sign-in, opens a console session (or hands airlock login --sso its code) and redirects', auth: false,
      query: z.record(z.string(), z.string()),
      response: redirects('the console (signed in), the sign-in page with ?sso_error=<code>, or (airlock login --sso) Airlock\'s confirmation page'),
      async handler({ req, reply }) {
        const url = new URL(`${deps.publicUrl()}${req.url}`);
        let done;
        try {
          done = await sso.callback(url, readCookie(req, BINDING_COOKIE), req.ip);
        } catch (e) {
          if (e instanceof AirlockError) return toSignIn(reply.header('set-cookie', bindingCookie(req, '', 0)), e);
          throw e;
        }
        if (done.purpose.kind === 'cli') {
          // The person who signed in says whether the CLI that asked gets their access; the cookie ties the answer
          // to this browser.
          const c = sso.awaitConfirmation(done.signIn, done.purpose, done.started);
          reply.header('set-cookie', bindingCookie(req, c.binding, 120));
          return redirect(reply, `${CONFIRM}?id=${encodeURIComponent(c.id)}`);
        }
        reply.header('set-cookie', bindingCookie(req, '', 0));
        // Fastify adds a second Set-Cookie: the binding cleared above, the session set here.
        await deps.consoleAuth.signInWithSso(req, reply, done.signIn.principal, done.signIn.expiresAt);
        return redirect(reply, '/');
      },
    },
    {
      method: 'GET', url: CONFIRM, tag: 'console', summary: 'airlock login --sso (browser): asks the person who signed in whether the command-line tool that started the sign-in gets their access, showing the code the CLI shows', auth: false,
      query: z.strictObject({ id: z.string().min(1).max(100) }),
      response: { 200: { content: 'text/html', description: 'the confirmation page (a form posting back here)' } },
      async handler({ req, reply, query }) {
        try {
          const c = await sso.confirmation(query.id, readCookie(req, BINDING_COOKIE), req.ip);
          return page(reply, confirmPage(query.id, c));
        } catch (e) {
          if (e instanceof AirlockError) return toSignIn(reply, e);
          throw e;
        }
      },
    },
    {
      method: 'DELETE', url: '/api/v1/identities/:principal', tag: 'console', summary: 'Unlinks a principal from the IdP account it signed in with (admin): forgets its subject and IdP groups, so the next single sign-on pins it afresh',
      params: z.strictObject({ principal: z.string().min(1).max(63) }),
      response: z.object({ principal: z.string(), subject: z.string(), issuer: z.string() }),
      async handler({ caller, params }) {
        if (!access.policy().isAdmin(caller.principal)) throw forbidden('Only an admin can unlink an identity.');
        const gone = await sso.unlink(params.principal, caller.principal.name, caller.source);
        if (!gone) throw new AirlockError('AIRLOCK_NOT_FOUND', `"${params.principal}" has no single sign-on identity to unlink.`);
        return gone;
      },
    },
    {
      method: 'POST', url: '/api/v1/auth/sso/exchange', tag: 'console', summary: 'airlock login --sso (browser): trades the one-time code its loopback received, with the verifier of its challenge, for an Airlock token bound to the sign-in', auth: false,
      body: z.strictObject({ code: z.string().min(1).max(100), verifier: z.string().min(43).max(128) }),
      response: cliToken,
      handler: async ({ body, req }) => mintFor(sso.redeemCode(body.code, body.verifier), req.ip),
    },
    {
      method: 'POST', url: '/api/v1/auth/sso/device', tag: 'console', summary: 'airlock login --sso (device flow): starts a device authorization at the identity provider; the server polls it, so the client secret stays here', auth: false,
      response: z.object({ handle: z.string(), user_code: z.string(), verification_uri: z.string(), verification_uri_complete: z.string().nullable(), interval: z.number(), expires_in: z.number() }),
      handler: async ({ req }) => sso.startDevice(req.ip),
    },
    {
      method: 'POST', url: '/api/v1/auth/sso/device/poll', tag: 'console', summary: 'airlock login --sso (device flow): pending until the code is approved at the identity provider, then (once) an Airlock token bound to the sign-in', auth: false,
      body: z.strictObject({ handle: z.string().min(1).max(100) }),
      response: z.union([z.object({ status: z.literal('pending') }), cliToken.extend({ status: z.literal('approved') })]),
      async handler({ body, req }) {
        const r = sso.pollDevice(body.handle);
        if (r.status === 'pending') return r;
        return { status: 'approved' as const, ...(await mintFor(r.signIn, req.ip)) };
      },
    },
  ];
}

/**
 * POST /api/v1/auth/sso/confirm: the confirmation page's form (application/x-www-form-urlencoded, so its own parser in
 * its own encapsulated context, as Slack's route has). Allow: 302 to the CLI's loopback with a one-time code.
 */
export async function registerSsoConfirm(app: FastifyInstance, deps: { sso: Sso; behindTlsProxy?: boolean }): Promise<void> {
  await app.register(async function ssoConfirm(scope) {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => done(null, body));
    scope.post(CONFIRM, {
      schema: {
        summary: 'airlock login --sso (browser): the person\'s answer on the confirmation page (id, csrf, decision allow|cancel), from the browser that signed in',
        tags: ['console'],
        security: [],
        consumes: ['application/x-www-form-urlencoded'],
        response: {
          302: { description: 'a redirect (Location): the CLI\'s loopback with ?code= (allow), or the sign-in page with ?sso_error=<code>', content: { 'text/plain': { schema: { type: 'string' } } } },
          default: { description: 'An error', content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } } },
        },
      },
    }, async function ssoConfirmAnswer(req, reply) {
      const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
      const secure = deps.behindTlsProxy || req.protocol === 'https' ? '; Secure' : '';
      reply.header('set-cookie', `${BINDING_COOKIE}=; Path=/api/v1/auth/sso/; Max-Age=0; HttpOnly; SameSite=Lax${secure}`);
      const go = (location: string) => reply.code(302).header('location', location).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(`Redirecting to ${location.split('?')[0]}`);
      try {
        const r = await deps.sso.confirm(form.get('id') ?? '', form.get('csrf') ?? '', readCookie(req, BINDING_COOKIE), form.get('decision') === 'allow', req.ip);
        return go('redirect' in r ? r.redirect : '/?sso_error=cli_cancelled');
      } catch (e) {
        if (e instanceof AirlockError) return go(`/?sso_error=${encodeURIComponent(typeof e.details?.sso_error === 'string' ? e.details.sso_error : 'failed')}`);
        throw e;
      }
    });
  });
}

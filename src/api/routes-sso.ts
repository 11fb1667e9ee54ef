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

/** Ties the IdP's redirect back to the browser that left: SameSite=Lax, since that redirect is a cross-site navigation. */
const BINDING_COOKIE = 'airlock_sso';
const CALLBACK = '/api/v1/auth/sso/callback';

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

  function toSignIn(reply: FastifyReply, message: string) {
    return redirect(reply, `/?sso_error=${encodeURIComponent(message)}`);
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
        const { url, binding } = await sso.start(`${deps.publicUrl()}${CALLBACK}`, purpose);
        reply.header('set-cookie', bindingCookie(req, binding, 600));
        return redirect(reply, url);
      },
    },
    {
      method: 'GET', url: CALLBACK, tag: 'console', summary: 'Where the identity provider sends the browser back: validates the sign-in, opens a console session (or hands airlock login --sso its code) and redirects', auth: false,
      query: z.record(z.string(), z.string()),
      response: redirects('the console (signed in), the sign-in page with ?sso_error=<why>, or airlock login --sso\'s loopback with ?code='),
      async handler({ req, reply }) {
        reply.header('set-cookie', bindingCookie(req, '', 0));
        const url = new URL(`${deps.publicUrl()}${req.url}`);
        let done;
        try {
          done = await sso.callback(url, readCookie(req, BINDING_COOKIE), req.ip);
        } catch (e) {
          if (e instanceof AirlockError) return toSignIn(reply, e.message);
          throw e;
        }
        if (done.purpose.kind === 'cli') {
          const code = sso.issueCode(done.signIn, done.purpose.challenge);
          return redirect(reply, `${done.purpose.redirect}?code=${encodeURIComponent(code)}`);
        }
        // Fastify adds a second Set-Cookie: the binding cleared above, the session set here.
        await deps.consoleAuth.signInWithSso(req, reply, done.signIn.principal, done.signIn.expiresAt);
        return redirect(reply, '/');
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

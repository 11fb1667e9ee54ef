// The OpenID Connect client (openid-client): discovery, the authorization code flow with PKCE, the device
// authorization grant, and ID token validation with the provider's JWKS, refetched when a token names a new key.
import * as oidc from 'openid-client';
import type { OidcDef } from '../policy/schema.js';

export interface IdpSignIn {
  claims: Record<string, unknown>;
  /** What the IdP lets us know about how long this sign-in holds (epoch ms): see sessionEnd. */
  idpSessionEnd: number;
}

export interface LoginStart {
  url: string;
  state: string;
  nonce: string;
  verifier: string;
}

const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/;

/** The JWT header's kid of an ID token in a token endpoint answer, or undefined. */
function idTokenKid(body: string): string | undefined {
  try {
    const idToken = (JSON.parse(body) as { id_token?: string }).id_token;
    if (!idToken) return undefined;
    return (JSON.parse(Buffer.from(idToken.split('.')[0]!, 'base64url').toString()) as { kid?: string }).kid;
  } catch {
    return undefined;
  }
}

/**
 * How long a sign-in holds, as far as the IdP tells: the refresh token's lifetime when it says one (Keycloak's
 * refresh_expires_in: its SSO session), else the later of the ID token's and the access token's expiry.
 */
function sessionEnd(tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, nowMs: number): number {
  const refresh = (tokens as { refresh_expires_in?: unknown }).refresh_expires_in;
  if (typeof refresh === 'number' && refresh > 0) return nowMs + refresh * 1000;
  const exp = tokens.claims()?.exp;
  const access = tokens.expiresIn();
  return Math.max(typeof exp === 'number' ? exp * 1000 : 0, access ? nowMs + access * 1000 : 0) || nowMs;
}

export function makeOidcClient(def: OidcDef, clientSecret: string | undefined) {
  let metadata: oidc.ServerMetadata | undefined;
  // The JWKS as last fetched: each flow starts from it, and from a fresh fetch when its ID token names a key not in it.
  let jwks: oidc.ExportedJWKSCache | undefined;
  const insecure = LOOPBACK.test(def.issuer);

  async function discover(): Promise<oidc.ServerMetadata> {
    if (!metadata) {
      const c = await oidc.discovery(new URL(def.issuer), def.client_id, clientSecret, undefined, { execute: insecure ? [oidc.allowInsecureRequests] : [] });
      metadata = c.serverMetadata();
    }
    return metadata;
  }

  /**
   * A Configuration for one flow. openid-client refetches the JWKS on an unknown kid at most once a minute; a new
   * Configuration starts with no cached keys, so when the token endpoint's ID token names a kid we do not know, the
   * flow fetches the JWKS afresh and a key rotation at the IdP is picked up on the next sign-in.
   */
  async function configuration(): Promise<oidc.Configuration> {
    const c = new oidc.Configuration(await discover(), def.client_id, clientSecret);
    if (insecure) oidc.allowInsecureRequests(c);
    // An ID token from the token endpoint is otherwise trusted on TLS alone (OIDC Core 3.1.3.7 allows it); we check its
    // signature against the provider's JWKS as well, so a token the provider did not sign is refused whatever the path.
    oidc.enableNonRepudiationChecks(c);
    if (jwks) oidc.setJwksCache(c, jwks);
    c[oidc.customFetch] = async (url, options) => {
      const res = await fetch(url, options as RequestInit);
      if (url !== metadata?.token_endpoint || !jwks) return res;
      const body = await res.text();
      const kid = idTokenKid(body);
      if (kid !== undefined && !(jwks.jwks?.keys ?? []).some((k) => k.kid === kid)) oidc.setJwksCache(c, {} as oidc.ExportedJWKSCache);
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    };
    return c;
  }

  /** Keeps the JWKS this flow used (fetched or not) for the next one. */
  function keep(c: oidc.Configuration): void {
    jwks = oidc.getJwksCache(c) ?? jwks;
  }

  /** The ID token's claims, with the userinfo endpoint's (IdPs put groups and names in either). */
  async function signedIn(c: oidc.Configuration, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, nowMs: number): Promise<IdpSignIn> {
    const idClaims = tokens.claims();
    if (!idClaims) throw new Error('the identity provider answered without an ID token');
    let info: Record<string, unknown> = {};
    if (metadata?.userinfo_endpoint && tokens.access_token) info = await oidc.fetchUserInfo(c, tokens.access_token, idClaims.sub);
    return { claims: { ...info, ...idClaims }, idpSessionEnd: sessionEnd(tokens, nowMs) };
  }

  return {
    display_name: def.display_name,
    discover,

    async supportsDeviceFlow(): Promise<boolean> {
      return (await discover()).device_authorization_endpoint !== undefined;
    },

    /** Where to send the browser, and the checks the callback needs (kept by the caller, server-side). */
    async startLogin(redirectUri: string): Promise<LoginStart> {
      const c = await configuration();
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(c, { redirect_uri: redirectUri, scope: def.scopes.join(' '), state, nonce, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
      return { url: url.href, state, nonce, verifier };
    },

    /** Validates the callback (state, code, ID token: issuer, audience, expiry, nonce, signature) and returns the claims. */
    async finishLogin(callbackUrl: URL, checks: { state: string; nonce: string; verifier: string }, nowMs: number): Promise<IdpSignIn> {
      const c = await configuration();
      const tokens = await oidc.authorizationCodeGrant(c, callbackUrl, { pkceCodeVerifier: checks.verifier, expectedState: checks.state, expectedNonce: checks.nonce, idTokenExpected: true });
      keep(c);
      return signedIn(c, tokens, nowMs);
    },

    async startDevice(): Promise<{ response: oidc.DeviceAuthorizationResponse; wait: (signal: AbortSignal, nowMs: () => number) => Promise<IdpSignIn> }> {
      const c = await configuration();
      const response = await oidc.initiateDeviceAuthorization(c, { scope: def.scopes.join(' ') });
      return {
        response,
        async wait(signal, nowMs) {
          const tokens = await oidc.pollDeviceAuthorizationGrant(c, response, undefined, { signal });
          keep(c);
          return signedIn(c, tokens, nowMs());
        },
      };
    },
  };
}

export type OidcClient = ReturnType<typeof makeOidcClient>;

/** A short reason for a failed sign-in, for the person and the audit log (never a token), with its stable code. */
export function failureReason(e: unknown): { code: string; reason: string } {
  if (e instanceof oidc.AuthorizationResponseError || e instanceof oidc.ResponseBodyError) return { code: 'idp_refused', reason: `the identity provider answered ${e.error}${e.error_description ? `: ${e.error_description}` : ''}` };
  // openid-client wraps oauth4webapi's error, whose message and cause (claim) say what failed.
  const chain: { message?: string; code?: string; cause?: unknown }[] = [];
  for (let x = e as { message?: string; cause?: unknown } | undefined; x && typeof x === 'object' && chain.length < 5; x = x.cause as typeof x) chain.push(x);
  const inner = [...chain].reverse().find((x) => typeof x.message === 'string') ?? { message: String(e) };
  const claim = chain.map((x) => (x.cause as { claim?: string } | undefined)?.claim).find((c) => c !== undefined);
  const msg = inner.message!;
  if (claim === 'aud' || /"aud"/.test(msg)) return { code: 'id_token_audience', reason: `the ID token is not meant for this client (its audience is wrong): ${msg}` };
  if (claim === 'exp' || /"exp"|expired/i.test(msg)) return { code: 'id_token_expired', reason: `the ID token has expired: ${msg}` };
  if (claim === 'iss' || /"iss"/.test(msg)) return { code: 'id_token_issuer', reason: `the ID token comes from another issuer: ${msg}` };
  if (claim === 'nonce') return { code: 'id_token_nonce', reason: `the ID token's nonce does not match this sign-in: ${msg}` };
  if (/signature/i.test(msg)) return { code: 'id_token_signature', reason: `the ID token's signature does not verify with the identity provider's keys: ${msg}` };
  if (/verification key/i.test(msg)) return { code: 'id_token_key', reason: `no key of the identity provider's JWKS verifies the ID token: ${msg}` };
  return { code: 'idp_error', reason: msg };
}

// Sign in with the company's identity provider (when configured), a local console password or an access token.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { getJson, postJson } from '../api/client.js';
import { api } from '../api/urls.js';
import { ErrorNote, Field, useAction } from '../components/ui.js';

/**
 * A failed single sign-on comes back as /?sso_error=<code>; the sentence is ours, never text from the address bar (a
 * link anyone can make). The audit log (sso.sign_in_failed) has the particulars.
 */
const SSO_ERRORS: Record<string, string> = {
  no_principal_claim: 'the identity provider did not send the claim that names you (identity.oidc.principal_claim).',
  email_unverified: 'the identity provider does not say your e-mail address is verified.',
  email_domain: 'your e-mail address is not in one of the organisation\'s domains (identity.oidc.email_domains).',
  bad_principal_name: 'the name the identity provider gives you is not one Airlock accepts.',
  agent: 'that name belongs to an agent, and agents do not sign in with single sign-on.',
  not_listed: 'you are not a principal in the policy; ask an admin to add you.',
  admin_not_linked: 'admins sign in with single sign-on only when the policy names their IdP account (sso_subject); use a password or token.',
  subject_mismatch: 'this Airlock principal is linked to another account of the identity provider; an admin can unlink it.',
  email_mismatch: 'the identity provider\'s e-mail address for you is not the one the policy gives you.',
  session_ended: 'the identity provider\'s session for this sign-in has already ended.',
  unknown_login: 'this sign-in link is unknown, already used or too old; start again.',
  other_browser: 'the sign-in came back to a different browser than the one that started it; start again here.',
  idp_refused: 'the identity provider refused the sign-in.',
  id_token_audience: 'the ID token is not meant for this client (its audience is wrong).',
  id_token_expired: 'the ID token has expired (are the clocks of Airlock and the identity provider apart?).',
  id_token_issuer: 'the ID token comes from another issuer.',
  id_token_nonce: 'the ID token\'s nonce does not match this sign-in.',
  id_token_signature: 'the ID token\'s signature does not verify with the identity provider\'s keys.',
  id_token_key: 'no key of the identity provider verifies the ID token.',
  idp_error: 'the identity provider\'s answer could not be used.',
  busy: 'too many sign-ins are in progress; try again in a minute.',
};

function ssoErrorText(code: string): string {
  if (code === 'cli_cancelled') return 'You cancelled the command-line sign-in; it was given nothing.';
  const why = Object.hasOwn(SSO_ERRORS, code) ? SSO_ERRORS[code] : undefined;
  return why ? `Single sign-on did not complete: ${why}` : 'Single sign-on did not complete; an admin finds why in the audit log (sso.sign_in_failed).';
}

export function SignIn(props: { notice: string | null; onSignedIn: () => Promise<void> }) {
  const [method, setMethod] = useState<'password' | 'token'>('password');
  const [principal, setPrincipal] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const nameRef = useRef<HTMLInputElement>(null);
  // Focus the first field once; switching tabs with the arrow keys keeps focus on the tabs (the ARIA tabs pattern).
  useEffect(() => nameRef.current?.focus(), []);
  const [sso, setSso] = useState<{ enabled: boolean; name: string } | null>(null);
  // A failed single sign-on comes back as /?sso_error=<code>: shown once, then taken off the address bar.
  const [ssoError] = useState(() => new URLSearchParams(window.location.search).get('sso_error'));
  useEffect(() => {
    if (ssoError !== null) window.history.replaceState(null, '', window.location.pathname);
    getJson(api.sso(), (j) => j as { enabled: boolean; display_name: string | null }, { quiet401: true })
      .then((j) => setSso({ enabled: j.enabled, name: j.display_name ?? 'single sign-on' }))
      .catch(() => setSso(null));
  }, [ssoError]);
  const signIn = useAction(async () => {
    await postJson(api.signIn(), method === 'password' ? { principal: principal.trim(), password } : { token: token.trim() }, () => undefined, { quiet401: true });
    setPassword('');
    setToken('');
    await props.onSignedIn();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void signIn.run();
  };
  return (
    <main className="signin" id="main">
      <div className="signin-card">
        <div className="brand big">
          <img src="/favicon.svg" alt="" width={36} height={36} />
          <h1>Airlock</h1>
        </div>
        <p className="muted">Just-in-time access to production: ask, get approved, use it for a while, and it ends by itself.</p>
        {props.notice && (
          <p className="notice" role="status">
            {props.notice}
          </p>
        )}
        {ssoError !== null && (
          <p className="state error" role="alert">
            {ssoErrorText(ssoError)}
          </p>
        )}
        {sso?.enabled && (
          <>
            <a className="button primary wide" href={api.ssoStart()}>
              Sign in with {sso.name}
            </a>
            <p className="muted signin-or">or with a password or token</p>
          </>
        )}
        <div className="tabs" role="tablist" aria-label="How to sign in">
          {(['password', 'token'] as const).map((m) => (
            <button
              key={m}
              type="button"
              role="tab"
              id={`tab-${m}`}
              aria-selected={method === m}
              aria-controls="signin-form"
              tabIndex={method === m ? 0 : -1}
              onClick={() => {
                setMethod(m);
                signIn.clear();
              }}
              onKeyDown={(e) => {
                if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
                  const next = m === 'password' ? 'token' : 'password';
                  setMethod(next);
                  document.getElementById(`tab-${next}`)?.focus();
                }
              }}
            >
              {m === 'password' ? 'Password' : 'Access token'}
            </button>
          ))}
        </div>
        <form id="signin-form" role="tabpanel" aria-labelledby={`tab-${method}`} onSubmit={submit} noValidate>
          {method === 'password' ? (
            <>
              <Field label="Name" required>
                {(f) => <input id={f.id} ref={nameRef} name="username" autoComplete="username" value={principal} onChange={(e) => setPrincipal(e.target.value)} required aria-describedby={f.describedBy} />}
              </Field>
              <Field label="Password" required hint="Set by your admin, or by you with: airlock passwd">
                {(f) => <input id={f.id} name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required aria-describedby={f.describedBy} />}
              </Field>
            </>
          ) : (
            <Field label="Access token" required hint="An alk_… token, e.g. from `airlock token create`. The console keeps only a session cookie, not the token.">
              {(f) => <input id={f.id} name="token" type="password" autoComplete="off" spellCheck={false} value={token} onChange={(e) => setToken(e.target.value)} required aria-describedby={f.describedBy} />}
            </Field>
          )}
          {signIn.error !== undefined && <ErrorNote error={signIn.error} />}
          <button type="submit" className="primary wide" disabled={signIn.busy || (method === 'password' ? !principal.trim() || !password : !token.trim())}>
            {signIn.busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}

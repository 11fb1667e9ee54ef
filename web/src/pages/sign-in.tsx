// Sign in with the company's identity provider (when configured), a local console password or an access token.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { getJson, postJson } from '../api/client.js';
import { api } from '../api/urls.js';
import { ErrorNote, Field, useAction } from '../components/ui.js';

export function SignIn(props: { notice: string | null; onSignedIn: () => Promise<void> }) {
  const [method, setMethod] = useState<'password' | 'token'>('password');
  const [principal, setPrincipal] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const nameRef = useRef<HTMLInputElement>(null);
  // Focus the first field once; switching tabs with the arrow keys keeps focus on the tabs (the ARIA tabs pattern).
  useEffect(() => nameRef.current?.focus(), []);
  const [sso, setSso] = useState<{ enabled: boolean; name: string } | null>(null);
  // A failed single sign-on comes back as /?sso_error=…: shown once, then taken off the address bar.
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
            {ssoError}
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

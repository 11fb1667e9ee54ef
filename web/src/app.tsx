// The console's shell: who is signed in, the navigation, the live-stream indicator and the page for the route.
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { getJson, onUnauthenticated, postJson, setCsrf, errorText } from './api/client.js';
import { onLiveStatus, startLive, stopLive, type LiveStatus } from './api/live.js';
import { makeConsoleSession, makeMe, makeRequest } from './api/models.js';
import { ViewerContext, useViewer, type Viewer } from './viewer.js';
import { api, page } from './api/urls.js';
import { useLoad, useRoute } from './lib/hooks.js';
import { Link, Loading, NavigateContext } from './components/ui.js';
import { SignIn } from './pages/sign-in.js';
import { MyAccess } from './pages/my-access.js';
import { Reviews } from './pages/reviews.js';
import { useHeldStatements } from './pages/statement-reviews.js';
import { mayDecide } from './lib/statement-review-rules.js';
import { RequestPage } from './pages/request.js';
import { Sessions, SessionTimeline } from './pages/sessions.js';
import { Audit } from './pages/audit.js';
import { Admin } from './pages/admin.js';
import { Reports } from './pages/reports.js';

type State = { kind: 'checking' } | { kind: 'signed-out'; notice: string | null } | { kind: 'signed-in'; viewer: Viewer };

/** The signed-in viewer, or why nobody is signed in (null: this browser never was). */
async function loadViewer(): Promise<Viewer | { signedOut: string | null }> {
  const answer = await getJson(api.session(), (j) => (j ?? {}) as { signed_in?: unknown; detail?: unknown }, { quiet401: true });
  if (answer.signed_in === false) return { signedOut: typeof answer.detail === 'string' ? answer.detail : null };
  const session = makeConsoleSession(answer);
  setCsrf(session.csrf);
  const me = await getJson(api.whoami(), makeMe);
  return { me, session, reviews: me.approverOf.length > 0, seesAll: me.admin || me.auditor };
}

export function App() {
  const [state, setState] = useState<State>({ kind: 'checking' });
  const [route, navigate] = useRoute();

  const enter = useCallback(async () => {
    try {
      const viewer = await loadViewer();
      if ('signedOut' in viewer) {
        setState({ kind: 'signed-out', notice: viewer.signedOut });
        return;
      }
      setState({ kind: 'signed-in', viewer });
      startLive();
    } catch (e) {
      setState({ kind: 'signed-out', notice: (e as { status?: number }).status === 401 ? null : errorText(e) });
    }
  }, []);

  useEffect(() => {
    void enter();
    return onUnauthenticated((e) => {
      stopLive();
      setCsrf('');
      setState({ kind: 'signed-out', notice: e.message });
    });
  }, [enter]);

  const signOut = useCallback(async () => {
    try {
      await postJson(api.signOut(), {}, () => undefined, { quiet401: true });
    } finally {
      stopLive();
      setCsrf('');
      setState({ kind: 'signed-out', notice: 'You are signed out.' });
    }
  }, []);

  if (state.kind === 'checking') {
    return (
      <main className="center">
        <Loading what="the console" />
      </main>
    );
  }
  if (state.kind === 'signed-out') return <SignIn notice={state.notice} onSignedIn={enter} />;

  const { viewer } = state;
  let content: ReactNode;
  switch (route.name) {
    case 'my-access':
      content = <MyAccess />;
      break;
    case 'reviews':
      content = <Reviews />;
      break;
    case 'request':
      content = <RequestPage id={route.id} />;
      break;
    case 'sessions':
      content = <Sessions />;
      break;
    case 'session':
      content = <SessionTimeline id={route.id} />;
      break;
    case 'audit':
      content = <Audit />;
      break;
    case 'admin':
      content = <Admin />;
      break;
    case 'reports':
      content = viewer.seesAll ? <Reports /> : <div className="panel"><h1>Reports</h1><p>Only admins and auditors can read access reports.</p></div>;
      break;
    default:
      content = (
        <div className="panel">
          <h1>Nothing here</h1>
          <p>
            There is no page at <code>{route.path}</code>. <Link to={page.myAccess()}>Go to My access</Link>.
          </p>
        </div>
      );
  }
  return (
    <NavigateContext.Provider value={navigate}>
      <ViewerContext.Provider value={viewer}>
        <Shell route={route.name} onSignOut={signOut}>
          {content}
        </Shell>
      </ViewerContext.Provider>
    </NavigateContext.Provider>
  );
}

function LiveIndicator() {
  const [status, setStatus] = useState<LiveStatus>('off');
  useEffect(() => onLiveStatus(setStatus), []);
  const text = status === 'live' ? 'Live' : status === 'connecting' ? 'Connecting…' : status === 'reconnecting' ? 'Reconnecting…' : 'Offline';
  return (
    <span className={`live ${status}`} role="status" title={status === 'live' ? 'Changes appear here as they happen' : 'Live updates are interrupted; the console retries on its own'}>
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

/** Requests and held statements waiting for the viewer's decision. */
function ReviewCount(props: { statements: number }) {
  const { data } = useLoad((signal) => getJson(api.requests('reviewable'), (j) => ((j as { requests?: unknown[] }).requests ?? []).map(makeRequest), { signal }), [], { live: ['request'] });
  const n = (data?.length ?? 0) + props.statements;
  if (n === 0) return null;
  return (
    <span className="count" aria-label={`${n} waiting`}>
      {n}
    </span>
  );
}

function Shell(props: { route: string; onSignOut: () => void; children: ReactNode }) {
  const viewer = useViewer();
  const { me } = viewer;
  // A requester whose statement is held sees the Reviews page too, to follow it, even without requests to review.
  const held = useHeldStatements().data ?? [];
  const items: { to: string; label: string; route: string[]; extra?: ReactNode }[] = [{ to: page.myAccess(), label: 'My access', route: ['my-access'] }];
  if (viewer.reviews || held.length > 0) items.push({ to: page.reviews(), label: 'Reviews', route: ['reviews', 'request'], extra: <ReviewCount statements={held.filter((r) => mayDecide(r, me)).length} /> });
  items.push({ to: page.sessions(), label: 'Sessions', route: ['sessions', 'session'] });
  if (viewer.seesAll) items.push({ to: page.audit(), label: 'Audit', route: ['audit'] });
  if (viewer.seesAll) items.push({ to: page.reports(), label: 'Reports', route: ['reports'] });
  if (viewer.seesAll) items.push({ to: page.admin(), label: 'Admin', route: ['admin'] });
  const roles = [me.admin ? 'admin' : '', me.auditor ? 'auditor' : '', me.approverOf.length ? `approver of ${me.approverOf.join(', ')}` : ''].filter(Boolean).join(' · ');
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <div className="brand">
          <img src="/favicon.svg" alt="" width={24} height={24} />
          <span>Airlock</span>
        </div>
        <nav aria-label="Console">
          <ul>
            {items.map((i) => (
              <li key={i.to}>
                <Link to={i.to} aria-current={i.route.includes(props.route) ? 'page' : undefined}>
                  {i.label}
                  {i.extra}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <LiveIndicator />
          <span className="me" title={roles || undefined}>
            <span className="visually-hidden">Signed in as </span>
            <strong data-testid="signed-in-as">{me.name}</strong>
          </span>
          <button type="button" className="small" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}

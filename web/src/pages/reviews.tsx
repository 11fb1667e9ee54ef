// Reviews: the pending requests I may decide, and statements held for review, live. Each request shows who, what,
// how long, why, and risk hints; one decided elsewhere leaves the list as soon as the server says so.
import { useCallback, useEffect, useRef, useState } from 'react';
import { getJson } from '../api/client.js';
import { subscribeLive } from '../api/live.js';
import { makeExplanation, makeRequest, makeResource, type AccessRequest } from '../api/models.js';
import { api, page } from '../api/urls.js';
import { Empty, Link, Loaded, Section, Time } from '../components/ui.js';
import { useLoad, useNow } from '../lib/hooks.js';
import { riskHints, type RiskFacts } from '../lib/risk.js';
import { formatDuration } from '../lib/time.js';
import { useViewer } from '../viewer.js';
import { DecisionForm, PrincipalName, RiskHints, type Decided } from './decide.js';
import { StatementReviews } from './statement-reviews.js';

const requestsOf = (json: unknown) => (((json as { requests?: unknown[] })?.requests) ?? []).map(makeRequest);

/** What the risk hints need beyond the request: each resource's labels and whether each role only reads. */
export function useRiskFacts(): (r: AccessRequest) => RiskFacts {
  const { me } = useViewer();
  const resources = useLoad((signal) => getJson(api.resources(), (j) => (((j as { resources?: unknown[] }).resources) ?? []).map(makeResource), { signal }), [], { live: ['policy'] });
  const explained = useLoad((signal) => getJson(api.explain(me.name), makeExplanation, { signal }), [me.name], { live: ['policy'] });
  return useCallback(
    (r: AccessRequest): RiskFacts => ({
      breakGlass: r.breakGlass,
      createdAt: r.createdAt,
      labels: resources.data?.find((x) => x.name === r.resource)?.labels,
      readOnly: explained.data?.entries.find((e) => e.resource === r.resource && e.role === r.role)?.readOnly,
    }),
    [resources.data, explained.data],
  );
}

/** Notes on screen at most: the newest stay, older ones drop off. */
const MAX_NOTES = 4;

interface Note {
  key: number;
  text: string;
  link?: string;
}

let noteKeys = 0;

export function Reviews() {
  const viewer = useViewer();
  const { me } = viewer;
  const reviewable = useLoad((signal) => getJson(api.requests('reviewable'), requestsOf, { signal }), [], { live: ['request'] });
  const facts = useRiskFacts();
  const now = useNow(5000);
  const [notes, setNotes] = useState<Note[]>([]);
  // Requests this page is deciding or has decided: marked before the decision is sent, because the server's event
  // for it can arrive before the answer to the click does.
  const mine = useRef(new Set<string>());
  const shown = useRef(new Map<string, AccessRequest>());
  shown.current = new Map((reviewable.data ?? []).map((r) => [r.id, r]));
  const note = useCallback((text: string, link?: string) => setNotes((n) => [{ key: ++noteKeys, text, link }, ...n].slice(0, MAX_NOTES)), []);
  const dismiss = (key: number) => setNotes((n) => n.filter((x) => x.key !== key));

  // Say so when a request on screen is decided by someone else (it then leaves the list).
  useEffect(
    () =>
      subscribeLive((c) => {
        if (!c || c.kind !== 'request' || !c.status || c.status === 'pending' || mine.current.has(c.id)) return;
        const r = shown.current.get(c.id);
        if (!r) return;
        const by = c.actor === me.name ? 'by you, in another window' : c.actor ? `by ${c.actor}` : 'elsewhere';
        note(`${r.principal}'s request for ${r.role} on ${r.resource} was ${c.status.replace('_', ' ')} ${by}.`);
      }),
    [me.name, note],
  );

  const onDeciding = (id: string) => mine.current.add(id);
  const onFailed = (id: string) => mine.current.delete(id);
  const onDecided = (d: Decided) => {
    const r = shown.current.get(d.id);
    const what = r ? `${r.principal}'s request for ${r.role} on ${r.resource}` : d.id;
    const text = d.decision === 'deny' ? `Denied ${what}.` : d.grantId ? `Approved ${what}: the grant is active now.` : d.status === 'approved' ? `Recorded your review of ${what}.` : `Approved ${what}; it needs more approvals.`;
    note(text, page.request(d.id));
    reviewable.reload();
  };

  return (
    <div className="page">
      <h1>Reviews</h1>
      {notes.length > 0 && (
        <div className="notes-wrap">
          <ul className="notes" role="status" aria-live="polite" aria-label="What happened">
            {notes.map((n) => (
              <li key={n.key} className="notice note" data-testid="review-note">
                <span>
                  {n.text} {n.link && <Link to={n.link}>Details</Link>}
                </span>
                <button type="button" className="dismiss" onClick={() => dismiss(n.key)} aria-label={`Dismiss: ${n.text}`} title="Dismiss">
                  ×
                </button>
              </li>
            ))}
          </ul>
          {notes.length > 1 && (
            <button type="button" className="link small" onClick={() => setNotes([])}>
              Dismiss all
            </button>
          )}
        </div>
      )}
      <StatementReviews note={note} />
      {viewer.reviews && (
        <Section title="Waiting for your decision" count={reviewable.data?.length}>
          <Loaded {...reviewable} what="requests to review">
            {(rs) =>
              rs.length === 0 ? (
                <Empty>Nothing waits for your review. New requests appear here as they are made.</Empty>
              ) : (
                <ul className="cards" aria-label="Requests to review">
                  {rs.map((r) => (
                    <li key={r.id} className="card review" data-testid="review" data-request-id={r.id}>
                      <div className="card-head">
                        <div>
                          <PrincipalName name={r.principal} kind={r.principalKind} sponsor={r.sponsor} /> <span className="muted">asks for</span> <strong>{r.role}</strong> <span className="muted">on</span> <strong>{r.resource}</strong>{' '}
                          <span className="muted">for</span> <strong>{formatDuration(r.durationSeconds)}</strong>
                        </div>
                        <Link to={page.request(r.id)} className="small">
                          {r.id}
                        </Link>
                      </div>
                      <blockquote className="reason">{r.reason || <span className="muted">No reason given</span>}</blockquote>
                      <p className="muted small">
                        {r.ticket && (
                          <>
                            Ticket <strong>{r.ticket}</strong> ·{' '}
                          </>
                        )}
                        Asked <Time date={r.createdAt} now={now} /> · times out <Time date={r.timeoutAt} now={now} relativeOnly />
                        {r.extendsGrantId && <> · extends {r.extendsGrantId}</>}
                      </p>
                      <RiskHints hints={riskHints(facts(r))} />
                      <DecisionForm request={r} onDeciding={onDeciding} onFailed={onFailed} onDecided={onDecided} />
                    </li>
                  ))}
                </ul>
              )
            }
          </Loaded>
        </Section>
      )}
    </div>
  );
}

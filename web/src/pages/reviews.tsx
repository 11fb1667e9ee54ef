// Reviews: the pending requests I may decide, live. Each shows who, what, how long, why, and risk hints;
// a request decided elsewhere leaves the list as soon as the server says so.
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
import { DecisionForm, RiskHints, type Decided } from './decide.js';

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

export function Reviews() {
  const reviewable = useLoad((signal) => getJson(api.requests('reviewable'), requestsOf, { signal }), [], { live: ['request'] });
  const facts = useRiskFacts();
  const now = useNow(5000);
  const [notes, setNotes] = useState<{ key: number; text: string; link?: string }[]>([]);
  const mine = useRef(new Set<string>());
  const shown = useRef(new Map<string, AccessRequest>());
  shown.current = new Map((reviewable.data ?? []).map((r) => [r.id, r]));

  // Say so when a request on screen is decided by someone else (it then leaves the list).
  useEffect(
    () =>
      subscribeLive((c) => {
        if (!c || c.kind !== 'request' || !c.status || c.status === 'pending' || mine.current.has(c.id)) return;
        const r = shown.current.get(c.id);
        if (r) setNotes((n) => [{ key: Date.now() + Math.random(), text: `${r.principal}'s request for ${r.role} on ${r.resource} was ${c.status!.replace('_', ' ')} elsewhere.` }, ...n].slice(0, 5));
      }),
    [],
  );

  const onDecided = (d: Decided) => {
    mine.current.add(d.id);
    const r = shown.current.get(d.id);
    const what = r ? `${r.principal}'s request for ${r.role} on ${r.resource}` : d.id;
    const text = d.decision === 'deny' ? `Denied ${what}.` : d.grantId ? `Approved ${what}: the grant is active now.` : d.status === 'approved' ? `Recorded your review of ${what}.` : `Approved ${what}; it needs more approvals.`;
    setNotes((n) => [{ key: Date.now(), text, link: page.request(d.id) }, ...n].slice(0, 5));
    reviewable.reload();
  };

  return (
    <div className="page">
      <h1>Reviews</h1>
      {notes.length > 0 && (
        <ul className="notes" role="status" aria-live="polite">
          {notes.map((n) => (
            <li key={n.key} className="notice">
              {n.text} {n.link && <Link to={n.link}>Details</Link>}
            </li>
          ))}
        </ul>
      )}
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
                        <strong className="title">{r.principal}</strong> <span className="muted">asks for</span> <strong>{r.role}</strong> <span className="muted">on</span> <strong>{r.resource}</strong>{' '}
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
                    <DecisionForm request={r} onDecided={onDecided} />
                  </li>
                ))}
              </ul>
            )
          }
        </Loaded>
      </Section>
    </div>
  );
}
